using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using QemuTestKit.Cli.Output;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;

namespace QemuTestKit.Cli.Commands;

/// <summary><c>qemutestkit introspect</c>: what a QEMU binary supports, from the cache or from the binary itself.</summary>
internal static class IntrospectCommand
{
    /// <summary>A week: far beyond any real walk, and well inside what a CancellationTokenSource timer accepts (~49 days).</summary>
    private const int MaxTimeoutSeconds = 7 * 24 * 3600;

    public static Command Create()
    {
        var qemu = new Option<string>("--qemu")
        {
            Description = "QEMU system emulator: a name on PATH (qemu-system-x86_64) or a path",
            Required = true,
        };
        var machine = new Option<string?>("--machine") { Description = "Also read the device/bus tree of this machine type (for example q35)" };
        var device = new Option<string[]>("--device")
        {
            Description = "With --machine: add a device as QEMU's -device would (for example e1000,id=nic0); repeatable",
            AllowMultipleArgumentsPerToken = false,
        };
        var json = new Option<bool>("--json") { Description = "Print the catalog as JSON on stdout" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Catalog cache directory (default: $XDG_CACHE_HOME/qemutestkit)" };
        var noCache = new Option<bool>("--no-cache") { Description = "Ask the binary even when a valid cached catalog exists; write no cache" };
        var timeout = new Option<int>("--timeout")
        {
            Description = "Give up after this many seconds",
            DefaultValueFactory = _ => 120,
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : string.Empty;
                if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds) && seconds is > 0 and <= MaxTimeoutSeconds)
                {
                    return seconds;
                }

                result.AddError(string.Create(CultureInfo.InvariantCulture, $"--timeout must be a positive number of seconds, at most {MaxTimeoutSeconds} (got '{text}')"));
                return 0;
            },
        };

        var command = new Command("introspect", "Show what a QEMU binary supports: machines, CPUs, devices and their properties")
        {
            qemu, machine, device, json, cacheDir, noCache, timeout,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(device) is { Tokens.Count: > 0 } && result.GetResult(machine) is null)
            {
                result.AddError("--device needs --machine: devices are added to that machine's device tree");
            }
        });
        command.SetAction(async (parse, ct) =>
        {
            var options = new IntrospectionOptions { Timeout = TimeSpan.FromSeconds(parse.GetValue(timeout)) };
            var introspector = new QemuIntrospector(options);
            var binary = parse.GetValue(qemu)!;
            var catalog = parse.GetValue(noCache)
                ? await introspector.IntrospectAsync(binary, ct).ConfigureAwait(false)
                : await new CatalogCache(parse.GetValue(cacheDir), introspector, Warn).GetAsync(binary, ct).ConfigureAwait(false);

            MachineDeviceTree? tree = null;
            if (parse.GetValue(machine) is { } machineType)
            {
                var extra = (parse.GetValue(device) ?? []).SelectMany(d => new[] { "-device", d }).ToArray();
                tree = await DeviceTreeReader.ReadAsync(catalog.Binary, machineType, extra, options.Timeout, ct).ConfigureAwait(false);
            }

            if (parse.GetValue(json))
            {
                var node = JsonSerializer.SerializeToNode(catalog, CatalogJsonContext.Default.QemuCatalog)!.AsObject();
                if (tree is not null)
                {
                    node["deviceTree"] = JsonSerializer.SerializeToNode(tree, CatalogJsonContext.Default.MachineDeviceTree);
                }

                await Console.Out.WriteLineAsync(node.ToJsonString(new JsonSerializerOptions { WriteIndented = true })).ConfigureAwait(false);
            }
            else
            {
                await Console.Out.WriteAsync(CatalogSummary.Format(catalog, tree)).ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }

    private static void Warn(string message) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"qemutestkit: warning: {message}"));
}
