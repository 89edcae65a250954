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
        var value = options.Value(Option, Environment.GetEnvironmentVariable("QEMUTESTKIT_GUEST") ?? Path.Combine("artifacts", "guest", "guest.json"));
        return value == DistroName
            ? Environment.GetEnvironmentVariable("QEMUTESTKIT_DISTRO_GUEST") is { Length: > 0 } distro ? distro : Path.Combine("artifacts", "distro-guest", "guest.json")
            : value;
    }

    /// <summary><c>--guest distro</c>: the distro guest (Debian 12 with systemd on a qcow2 disk), as samples/DistroGuest.Xunit declares it.</summary>
    public const string DistroName = "distro";

    /// <summary>
    /// The test guest as a 256 MiB q35 machine waiting for its ready line; a guest with a disk (the distro guest) as the
    /// sample declares it: 512 MiB, its root disk on virtio, an e1000 NIC.
    /// </summary>
    public static MachineSpec Load(string guestJson, string name = "bench")
    {
        using var document = JsonDocument.Parse(File.ReadAllText(guestJson));
        var root = document.RootElement;
        var spec = new MachineSpec
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
        return root.TryGetProperty("disk", out var disk)
            ? spec with
            {
                MemoryMiB = 512,
                Disks = [new DiskSpec(disk.GetString()!, "qcow2")],
                Nics = [new NicSpec("e1000")],
                Ready = spec.Ready with { TimeoutSeconds = 600 },
            }
            : spec;
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
