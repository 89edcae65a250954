using System.Globalization;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>snapshot-start --arch aarch64|riscv64</c>: the architecture's test guest and x86_64's side by side, alternating,
/// each on the machine its guest.json names (<see cref="GuestSpecs.For"/>, as the tests find it): cold boot to the
/// first answer, a start from the ready snapshot to the first answer, and a recorded start from a ready state prepared
/// for recording, where the QEMU can replay the architecture (not riscv64 before 10.2: QTK1028).
/// Last line: <c>snapshot-start: ARCH/x86_64 cold boot &lt;a&gt;x, from ready &lt;b&gt;x[, recorded &lt;c&gt;x]</c>.
/// </summary>
internal sealed class SnapshotStartAcrossArchitectures(string benchmark, BenchOptions options, string architecture, TimeSpan timeout)
{
    public const string ArchOption = "--arch";

    private const string ColdBoot = "cold boot";
    private const string FromReady = "from ready";
    private const string Recorded = "recorded";

    private static readonly string[] s_architectures = ["aarch64", "riscv64"];

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (!s_architectures.Contains(architecture, StringComparer.Ordinal))
        {
            throw new BenchUsageException($"{ArchOption} takes x86_64, aarch64 or riscv64, not '{architecture}'");
        }

        if (options.Values.ContainsKey(BenchGuest.Option))
        {
            throw new BenchUsageException($"{BenchGuest.Option} is for the x86_64-only run; with {ArchOption} the guests come from $QEMUTESTKIT_GUEST[_ARCH] or artifacts/");
        }

        var root = Directory.CreateTempSubdirectory("qtk-bench-snapshot-arch-").FullName;
        try
        {
            Guest[] guests = [await PrepareAsync(architecture, root, cancellationToken).ConfigureAwait(false),
                await PrepareAsync(MachineSpec.DefaultArchitecture, root, cancellationToken).ConfigureAwait(false)];
            Say($"{options.Runs} runs per variant, alternating");

            var samples = new Dictionary<string, List<TimeSpan>>(StringComparer.Ordinal);
            foreach (var guest in guests)
            {
                samples[Key(guest, ColdBoot)] = [];
                samples[Key(guest, FromReady)] = [];
                if (guest.Recording is not null)
                {
                    samples[Key(guest, Recorded)] = [];
                }
            }

            for (var run = 0; run < options.Runs; run++)
            {
                foreach (var g in guests)
                {
                    await SnapshotStartBenchmark.TimeAsync(Key(g, ColdBoot), samples,
                        () => SnapshotStartBenchmark.StartColdAsync(g.Spec, g.Start, timeout, cancellationToken), Say, options).ConfigureAwait(false);
                    await SnapshotStartBenchmark.TimeAsync(Key(g, FromReady), samples,
                        () => SnapshotStartBenchmark.StartFromReadyAsync(g.Ready, g.Spec, g.Start, timeout, cancellationToken), Say, options).ConfigureAwait(false);
                    if (g.Recording is { } recording)
                    {
                        await SnapshotStartBenchmark.TimeAsync(Key(g, Recorded), samples,
                            () => SnapshotStartBenchmark.StartFromReadyAsync(recording, g.Spec, g.Start with { Mode = RunMode.Record }, timeout, cancellationToken),
                            Say, options).ConfigureAwait(false);
                    }
                }
            }

            var stats = samples.ToDictionary(s => s.Key, s => new Stats(s.Key, s.Value), StringComparer.Ordinal);
            BenchOutput.Table(benchmark, [.. stats.Values]);
            TimeSpan Median(Guest g, string variant) => stats[Key(g, variant)].Median;
            var (arch, x86) = (guests[0], guests[1]);
            foreach (var g in guests)
            {
                var recorded = g.Recording is null ? string.Empty : Invariant($", recorded {Median(g, ColdBoot) / Median(g, Recorded):0.0}x");
                Say(Invariant($"  {g.Architecture}: from ready {Median(g, ColdBoot) / Median(g, FromReady):0.0}x faster than cold boot{recorded}"));
            }

            if (arch.Recording is null)
            {
                Say($"  {arch.Architecture}: no recorded start: {arch.NotRecordedBecause}");
            }

            string Ratio(string variant) => Invariant($"{variant} {Median(arch, variant) / Median(x86, variant):0.00}x");
            Say($"{arch.Architecture}/{x86.Architecture} {Ratio(ColdBoot)}, {Ratio(FromReady)}" + (arch.Recording is null ? string.Empty : $", {Ratio(Recorded)}"));
            return 0;
        }
        catch (Exception e) when (e is QemuTestKitException or InvalidOperationException)
        {
            // InvalidOperationException: a test guest that is not built (TestGuest says how to build it).
            await Console.Error.WriteLineAsync($"bench: {benchmark}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private void Say(string text) => BenchOutput.Line(benchmark, text);

    private static string Key(Guest guest, string variant) => $"{guest.Architecture} {variant}";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The guest of <paramref name="arch"/> with a private catalog cache and two ready states: a normal one, and one
    /// prepared for recording (icount) unless this QEMU cannot replay the architecture.
    /// </summary>
    private async Task<Guest> PrepareAsync(string arch, string root, CancellationToken ct)
    {
        var spec = GuestSpecs.For(arch, $"bench-{arch}");
        var dir = Path.Combine(root, arch);
        var catalog = await new CatalogCache(Path.Combine(dir, "cache")).GetAsync(spec.QemuBinary, ct).ConfigureAwait(false);
        var start = new MachineStartOptions { Catalog = catalog, RunRoot = Path.Combine(dir, "run"), StartTimeout = timeout };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ready = await ReadyState.PrepareAsync(spec, Path.Combine(dir, "state"), start, ct).ConfigureAwait(false);
        string? notRecorded = RiscvSnapshotTimers.LostAcrossSnapshots(catalog)
            ? $"QEMU {catalog.QemuVersion} keeps no RISC-V timer across a snapshot, so it cannot replay a recording (QTK1028)"
            : null;
        var recording = notRecorded is null
            ? await ReadyState.PrepareAsync(spec, Path.Combine(dir, "state-record"), start with { IcountShift = 5 }, ct).ConfigureAwait(false)
            : null;
        Say($"{arch}: {spec.MachineType}{(spec.Cpu is null ? string.Empty : $" ({spec.Cpu})")}, ready state{(recording is null ? string.Empty : "s")} prepared in {BenchOutput.Duration(clock.Elapsed)}");
        return new Guest(arch, spec, start, ready, recording, notRecorded);
    }

    private sealed record Guest(string Architecture, MachineSpec Spec, MachineStartOptions Start, ReadyState Ready, ReadyState? Recording,
        string? NotRecordedBecause);
}
