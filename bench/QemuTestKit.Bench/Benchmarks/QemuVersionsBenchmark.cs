using System.Globalization;
using QemuTestKit.Containers;
using QemuTestKit.Introspection;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>qemu-versions</c>: the record-overhead test (<see cref="RecordOverheadBenchmark.Script"/>) on two QEMU builds side
/// by side, each in its image (by default <c>qemutestkit/qemu:local</c>, QEMU 7.2, and <c>qemutestkit/qemu:10</c>,
/// QEMU 10.0): per build the test not recorded and recorded (both counting instructions, alternating), then the replay
/// of a recording of it kept once per build, off the clock. No goal: it says what the newer build costs.
/// Last line: <c>qemu-versions: record overhead A x, B y; replay time B/A z</c>.
/// </summary>
internal sealed class QemuVersionsBenchmark : IBenchmark
{
    private const string ImagesOption = "--images";
    private const string DefaultImages = "qemutestkit/qemu:local,qemutestkit/qemu:10";

    public string Name => "qemu-versions";

    public string Description => $"the record-overhead test recorded, not recorded and replayed on two QEMU builds in their images (no goal); options --images A,B (default {DefaultImages}), --guest GUEST_JSON, --quiet";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = BenchOptions.Parse(args, valueOptions: [BenchGuest.Option, ImagesOption], flagOptions: ["--quiet"], defaultRuns: 3);
        var images = options.Value(ImagesOption, DefaultImages).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (images.Length != 2)
        {
            throw new BenchUsageException($"{ImagesOption} needs two images separated by a comma, for example {DefaultImages}");
        }

        void Say(string text) => BenchOutput.Line(Name, text);
        Action<string>? progress = options.Flag("--quiet") ? null : text => Say("  " + text);
        var root = Directory.CreateTempSubdirectory("qtk-bench-versions-").FullName;
        return await BenchOutput.GuardAsync(Name, root, async () =>
        {
            if (await BenchGuest.PrepareAsync(Name, options, root, Say, icountShift: 5, cancellationToken).ConfigureAwait(false) is not { } guest)
            {
                return 1;
            }

            // As in record-overhead: the runs that are not recorded start from a twin made in a normal run with icount.
            // Each image makes its own pair from these (once, cached beside them) unless it holds the host's build.
            var normal = await ReadyState.PrepareAsync(guest.Spec, Path.Combine(root, "state-normal"),
                guest.Start with { IcountShift = 5, PrepareForRecording = false }, cancellationToken).ConfigureAwait(false);
            var bundles = new Dictionary<string, string>(StringComparer.Ordinal);
            var versions = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var image in images)
            {
                bundles[image] = await RunTestAsync(guest, image, guest.Ready, RunMode.Record, Path.Combine(root, "bundles", bundles.Count.ToString(CultureInfo.InvariantCulture)), cancellationToken)
                    .ConfigureAwait(false) ?? throw new BenchFailedException($"no bundle was kept in {image}");
                var opened = await ReplayBundle.OpenAsync(bundles[image], cancellationToken).ConfigureAwait(false);
                await using (opened.ConfigureAwait(false))
                {
                    versions[image] = opened.Manifest.Qemu.Version;
                }

                Say($"{image}: QEMU {versions[image]}; ready states made, one recording kept for the replays");
            }

            string Label(string image, string what) => $"{versions[image]} {what}";
            Say($"{options.Runs} runs per variant, alternating (+{options.Warmup} warmup); {RecordOverheadBenchmark.Script.Length} commands per test");
            var runs = await Measure.AlternatingAsync(images.SelectMany(image => new[]
            {
                new Variant(Label(image, "not recorded"), ct => RunTestAsync(guest, image, normal, RunMode.Normal, keep: null, ct)),
                new Variant(Label(image, "recorded"), ct => RunTestAsync(guest, image, guest.Ready, RunMode.Record, keep: null, ct)),
            }).ToArray(), options, cancellationToken, progress).ConfigureAwait(false);
            var replays = await Measure.AlternatingAsync(images.Select(image =>
                new Variant(Label(image, "replay"), ct => ReplayAsync(bundles[image], image, ct))).ToArray(), options, cancellationToken, progress).ConfigureAwait(false);

            BenchOutput.Table(Name, [.. runs, .. replays]);
            TimeSpan Median(IReadOnlyList<Stats> stats, string name) => stats.Single(s => s.Name == name).Median;
            double Overhead(string image) => Median(runs, Label(image, "recorded")) / Median(runs, Label(image, "not recorded"));
            var (a, b) = (images[0], images[1]);
            Say(string.Create(CultureInfo.InvariantCulture,
                $"record overhead {versions[a]} {Overhead(a):0.00}x, {versions[b]} {Overhead(b):0.00}x; replay time {versions[b]}/{versions[a]} {Median(replays, Label(b, "replay")) / Median(replays, Label(a, "replay")):0.00}x"));
            return 0;
        }).ConfigureAwait(false);
    }

    /// <summary>One test in <paramref name="image"/>: start from the ready snapshot, run the script, stop; a recording is kept under <paramref name="keep"/> when given.</summary>
    /// <returns>The kept bundle, or null.</returns>
    private static async Task<string?> RunTestAsync(PreparedGuest guest, string image, ReadyState ready, RunMode mode, string? keep, CancellationToken ct)
    {
        var machine = await ready.StartAsync(guest.Spec, guest.Start with { Mode = mode, Launcher = new ContainerQemuLauncher(new ContainerImage(image)) }, ct).ConfigureAwait(false);
        await using (machine.ConfigureAwait(false))
        {
            foreach (var (name, command, expected) in RecordOverheadBenchmark.Script)
            {
                var result = await machine.ExecAsync(command, RecordOverheadBenchmark.CommandTimeout, ct).ConfigureAwait(false);
                if (result.ExitCode != 0 || !expected.IsMatch(result.Output))
                {
                    throw new BenchFailedException($"{image}, {mode}: '{name}' gave exit code {result.ExitCode} and '{result.Output}', expected /{expected}/");
                }
            }

            return keep is null ? null : await machine.KeepAsBundleAsync(keep, new BundleTest("qemu-versions"), ct).ConfigureAwait(false);
        }
    }

    private static async Task ReplayAsync(string bundle, string image, CancellationToken ct)
    {
        var opened = await ReplayBundle.OpenAsync(bundle, ct).ConfigureAwait(false);
        await using (opened.ConfigureAwait(false))
        {
            var result = await Replayer.ReplayAsync(opened, new ReplayOptions { Host = new ContainerReplayHost(image) }, ct).ConfigureAwait(false);
            if (!result.Identical)
            {
                throw new BenchFailedException($"the replay in {image} was not identical: {result.Verdict}");
            }
        }
    }
}
