using System.Diagnostics;
using System.Text.Json;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Bench;

/// <summary>
/// The test guest built by <c>./build.sh setup</c> (<c>artifacts/guest/guest.json</c>, or <c>--guest</c>, or
/// <c>$QEMUTESTKIT_GUEST</c>) as a machine spec, and its ready state prepared once for the benchmarks that start
/// instances of it.
/// </summary>
internal static class BenchGuest
{
    /// <summary>The value option every guest benchmark accepts.</summary>
    public const string Option = "--guest";

    /// <summary>The guest description to use: <c>--guest</c>, then <c>$QEMUTESTKIT_GUEST</c>, then the build's artifact.</summary>
    public static string JsonPath(BenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Value(Option, Environment.GetEnvironmentVariable("QEMUTESTKIT_GUEST") ?? Path.Combine("artifacts", "guest", "guest.json"));
    }

    /// <summary>The test guest as a 256 MiB q35 machine waiting for its ready line.</summary>
    public static MachineSpec Load(string guestJson, string name = "bench")
    {
        using var document = JsonDocument.Parse(File.ReadAllText(guestJson));
        var root = document.RootElement;
        return new MachineSpec
        {
            Name = name,
            MachineType = "q35",
            Cpu = "max",
            MemoryMiB = 256,
            Kernel = root.GetProperty("kernel").GetString(),
            Initrd = root.GetProperty("initrd").GetString(),
            Append = root.GetProperty("append").GetString(),
            Ready = new ReadyCondition(root.GetProperty("readyPattern").GetString(), 180),
        };
    }

    /// <summary>
    /// Loads the guest, fills a private catalog cache under <paramref name="root"/> and prepares the ready state there
    /// (one cold boot). Returns null, after saying why on stderr, when the guest has not been built.
    /// </summary>
    /// <param name="icountShift">Prepare with icount: needed when runs from the ready state will be recorded.</param>
    public static async Task<PreparedGuest?> PrepareAsync(string benchmark, BenchOptions options, string root, Action<string> say,
        int? icountShift, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(say);
        var guestJson = JsonPath(options);
        if (!File.Exists(guestJson))
        {
            await Console.Error.WriteLineAsync($"bench: {benchmark}: test guest {guestJson} not found; run ./build.sh setup").ConfigureAwait(false);
            return null;
        }

        var spec = Load(guestJson);
        var catalog = await new CatalogCache(Path.Combine(root, "cache")).GetAsync(spec.QemuBinary, cancellationToken).ConfigureAwait(false);
        var start = new MachineStartOptions { Catalog = catalog, RunRoot = Path.Combine(root, "run") };
        var prepare = Stopwatch.StartNew();
        var ready = await ReadyState.PrepareAsync(spec, Path.Combine(root, "state"), start with { IcountShift = icountShift }, cancellationToken).ConfigureAwait(false);
        say($"prepared the ready state in {BenchOutput.Duration(prepare.Elapsed)}");
        return new PreparedGuest(spec, catalog, start, ready);
    }
}

/// <summary>The test guest's spec, its binary's catalog, start options with a private run root, and its ready state.</summary>
internal sealed record PreparedGuest(MachineSpec Spec, QemuCatalog Catalog, MachineStartOptions Start, ReadyState Ready);
