using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using QemuTestKit.Introspection;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>replay-from-checkpoint</c>: a recorded test whose failure comes late (several steps of guest work, checkpoints on
/// the way, the last one before the last step, then a failing check) is kept as a bundle once, then replayed from its
/// start and from its last checkpoint, alternating. Every replay must be verified identical to the recording (the
/// benchmark fails otherwise). Goal: from the last checkpoint &lt;= 0.25x the full replay (medians). A third variant
/// replays the whole recording the way a test in replay mode does, through <see cref="Replayer.StartAsync"/> reading
/// only the console (nothing polls QMP), and its ratio to <see cref="Replayer.ReplayAsync"/> (the CLI's way) is printed.
/// Last line: <c>replay-from-checkpoint: &lt;x&gt;x of full replay</c>.
/// </summary>
internal sealed class ReplayFromCheckpointBenchmark : IBenchmark
{
    private const double Goal = 0.25;
    private const string Full = "full replay";
    private const string FromCheckpoint = "from last checkpoint";
    private const string Session = "full, API session";
    private const int DefaultSteps = 6;
    private const int DefaultIterations = 8000;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(300);

    public string Name => "replay-from-checkpoint";

    public string Description => "a late-failing recorded test replayed from its start vs. from its last checkpoint, both verified (goal: <= 0.25x); options --guest GUEST_JSON, --steps N, --iterations N (guest work per step), --quiet";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = BenchOptions.Parse(args, valueOptions: [BenchGuest.Option, "--steps", "--iterations"], flagOptions: ["--quiet"], defaultRuns: 5);
        var steps = PositiveInt(options, "--steps", DefaultSteps, minimum: 2);
        var iterations = PositiveInt(options, "--iterations", DefaultIterations, minimum: 1);
        void Say(string text) => BenchOutput.Line(Name, text);
        Action<string>? progress = options.Flag("--quiet") ? null : text => Say("  " + text);
        var root = Directory.CreateTempSubdirectory("qtk-bench-replay-").FullName;
        return await BenchOutput.GuardAsync(Name, root, async () =>
        {
            if (await BenchGuest.PrepareAsync(Name, options, root, Say, icountShift: 5, cancellationToken).ConfigureAwait(false) is not { } guest)
            {
                return 1;
            }

            var (bundlePath, failure, lastLine) = await RecordAsync(guest, root, steps, iterations, Say, cancellationToken).ConfigureAwait(false);
            var bundle = await ReplayBundle.OpenAsync(bundlePath, cancellationToken).ConfigureAwait(false);
            await using var bundleScope = bundle.ConfigureAwait(false);
            var manifest = bundle.Manifest;
            var last = manifest.Checkpoints[^1];
            var transcriptLength = new FileInfo(bundle.TranscriptPath).Length;
            Say(string.Create(CultureInfo.InvariantCulture,
                $"bundle: {manifest.Checkpoints.Count} checkpoints ({string.Join(", ", manifest.Checkpoints.Select(c => $"{c.Name} at byte {c.TranscriptOffset}, icount {c.Icount}"))}), " +
                $"transcript {transcriptLength} bytes, {DirectorySize(bundlePath) / (1024 * 1024)} MiB; failure: {failure}"));
            Say($"{options.Runs} runs per variant, alternating (+{options.Warmup} warmup)");

            var phases = new Dictionary<string, List<(TimeSpan Startup, TimeSpan Replay, TimeSpan Total)>> { [Full] = [], [FromCheckpoint] = [] };
            var lastLinePattern = new Regex(Regex.Escape(lastLine), RegexOptions.CultureInvariant);
            var stats = await Measure.AlternatingAsync(
                [
                    new Variant(Full, ct => ReplayAsync(bundle, null, transcriptLength, phases[Full], ct)),
                    new Variant(FromCheckpoint, ct => ReplayAsync(bundle, last, transcriptLength - last.TranscriptOffset, phases[FromCheckpoint], ct)),
                    new Variant(Session, ct => ReadSessionAsync(bundle, lastLinePattern, ct)),
                ],
                options,
                cancellationToken,
                progress).ConfigureAwait(false);

            BenchOutput.Table(Name, stats);
            foreach (var (variant, list) in phases)
            {
                static TimeSpan Median(IEnumerable<TimeSpan> values) => values.Order().ElementAt(values.Count() / 2);
                Say($"  {variant}: medians (warmup included) start {BenchOutput.Duration(Median(list.Select(p => p.Startup)))}, " +
                    $"replay and verify {BenchOutput.Duration(Median(list.Select(p => p.Replay)))}, " +
                    $"shutdown {BenchOutput.Duration(Median(list.Select(p => p.Total - p.Startup - p.Replay)))}");
            }

            var ratio = stats.Single(s => s.Name == FromCheckpoint).Median / stats.Single(s => s.Name == Full).Median;
            var sessionRatio = stats.Single(s => s.Name == Session).Median / stats.Single(s => s.Name == Full).Median;
            Say(string.Create(CultureInfo.InvariantCulture, $"  a test's replay session (StartAsync, reading the console) takes {sessionRatio:0.00}x of ReplayAsync's (the CLI's way)"));
            Say($"  every replay verified identical to the recording; goal <= {Goal.ToString("0.00", CultureInfo.InvariantCulture)}x: {(ratio <= Goal ? "ok" : "MISSED")}");
            Say(string.Create(CultureInfo.InvariantCulture, $"{ratio:0.00}x of full replay"));
            return 0;
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Records the late-failing test: <paramref name="steps"/> steps of shell arithmetic, each carrying its result into
    /// the next; a checkpoint halfway and one before the last step; then a check of the final value that fails.
    /// Keeps the run as a bundle, the way a failed test's recording is kept.
    /// </summary>
    private static async Task<(string Bundle, string Failure, string LastLine)> RecordAsync(PreparedGuest guest, string root, int steps, int iterations,
        Action<string> say, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var machine = await guest.Ready.StartAsync(guest.Spec, guest.Start with { Mode = RunMode.Record }, ct).ConfigureAwait(false);
        await using (machine.ConfigureAwait(false))
        {
            var step = string.Create(CultureInfo.InvariantCulture,
                $"i=0; s=$(cat /tmp/qtk-s 2>/dev/null || echo 1); while [ $i -lt {iterations} ]; do s=$(((s*1103515245+12345)%2147483648)); i=$((i+1)); done; echo $s | tee /tmp/qtk-s");
            var stepTimes = new List<TimeSpan>();
            for (var i = 1; i <= steps; i++)
            {
                if (i == steps / 2 + 1 && i != steps)
                {
                    await machine.CheckpointAsync("halfway", ct).ConfigureAwait(false);
                }

                if (i == steps)
                {
                    await machine.CheckpointAsync("before-last", ct).ConfigureAwait(false);
                }

                var result = await machine.ExecAsync(step, CommandTimeout, ct).ConfigureAwait(false);
                if (result.ExitCode != 0 || !long.TryParse(result.Output, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    throw new BenchFailedException($"recording: step {i} gave exit code {result.ExitCode} and '{result.Output}'");
                }

                stepTimes.Add(result.Duration);
            }

            var check = await machine.ExecAsync("echo \"final value $(cat /tmp/qtk-s)\"; [ \"$(cat /tmp/qtk-s)\" = 42 ]", CommandTimeout, ct).ConfigureAwait(false);
            if (check.ExitCode == 0)
            {
                throw new BenchFailedException("recording: the final check was meant to fail");
            }

            var failure = $"expected 42, guest said '{check.Output}' (exit code {check.ExitCode})";
            var bundle = await machine.KeepAsBundleAsync(Path.Combine(root, "late-failure"), new BundleTest("late-failure", "failed", failure), ct)
                .ConfigureAwait(false);
            say(string.Create(CultureInfo.InvariantCulture,
                $"recorded the test in {BenchOutput.Duration(clock.Elapsed)}: {steps} steps of {iterations} iterations " +
                $"(each {string.Join(" / ", stepTimes.Select(BenchOutput.Duration))}), then the failing check"));
            return (bundle, failure, check.Output.Split('\n')[^1]);
        }
    }

    private static async Task ReplayAsync(ReplayBundle bundle, Checkpoint? from, long expectedBytes, List<(TimeSpan Startup, TimeSpan Replay, TimeSpan Total)> phases,
        CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var result = await Replayer.ReplayAsync(bundle, new ReplayOptions { FromCheckpoint = from?.Name }, ct).ConfigureAwait(false);
        phases.Add((result.Startup, result.Elapsed - result.Startup, clock.Elapsed));
        if (!result.Identical)
        {
            throw new BenchFailedException($"replay from {from?.Name ?? "the start"}: {result.Verdict}; recorded '{result.Recorded}', replayed '{result.Replayed}'");
        }

        if (result.ComparedBytes != expectedBytes)
        {
            throw new BenchFailedException(string.Create(CultureInfo.InvariantCulture,
                $"replay from {from?.Name ?? "the start"} compared {result.ComparedBytes} bytes, expected {expectedBytes}"));
        }
    }

    /// <summary>A test's way: the session from <see cref="Replayer.StartAsync"/>, waited on until the recording's last line has been replayed.</summary>
    private static async Task ReadSessionAsync(ReplayBundle bundle, Regex lastLine, CancellationToken ct)
    {
        var session = await Replayer.StartAsync(bundle, cancellationToken: ct).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            await session.Machine.WaitForAsync(lastLine, CommandTimeout, ct).ConfigureAwait(false);
        }
    }

    private static int PositiveInt(BenchOptions options, string name, int fallback, int minimum)
    {
        if (!options.Values.TryGetValue(name, out var text))
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= minimum
            ? value
            : throw new BenchUsageException($"{name} needs a whole number >= {minimum.ToString(CultureInfo.InvariantCulture)}");
    }

    private static long DirectorySize(string directory) =>
        new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
}
