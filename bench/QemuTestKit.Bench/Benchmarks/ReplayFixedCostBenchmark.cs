using System.Diagnostics;
using System.Globalization;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>replay-fixed-cost</c>: what a replay costs before it replays anything. Two bundles of the same short recorded
/// test (one command) on the 256 MiB test guest: a small one, and a large one that also took checkpoints (each holds a
/// whole vmstate). Each is replayed by the real CLI as users install it (packed from this checkout and installed with
/// <c>dotnet tool install</c>, ReadyToRun), <c>qemutestkit replay &lt;bundle&gt; --until icount:N</c> with N
/// one past the start snapshot's count (stop at the first replayed instruction: what comes after it is the recording's
/// own time), alternating; the time is the CLI process's whole life: dotnet's start, verifying the bundle, preparing
/// the run directory, QEMU's start and load, the replay's first instruction, the verdict.
/// The first replay of each bundle is reported apart: it hashes every file, later ones find the hashes in
/// <c>FileHashCache</c>. Goal: &lt;= 0.5 s for both sizes, and the same for both.
/// Last line: <c>replay-fixed-cost: &lt;small&gt; for &lt;n&gt; MB, &lt;large&gt; for &lt;m&gt; MB (&lt;ratio&gt;x)</c>.
/// </summary>
internal sealed class ReplayFixedCostBenchmark : IBenchmark
{
    private const double GoalSeconds = 0.5;
    private const string CliOption = "--cli";
    private const string CheckpointsOption = "--checkpoints";
    private const string DefaultCli = "src/QemuTestKit.Cli/bin/Release/net10.0/qemutestkit";

    public string Name => "replay-fixed-cost";

    public string Description => "qemutestkit replay --until <first replayed instruction> of a small and a large bundle of the same recording (goal: <= 0.5 s, same for both); options --guest GUEST_JSON, --checkpoints N (in the large bundle, default 5), --cli PATH (default: this checkout's CLI packed and installed as a dotnet tool, ReadyToRun; the build output is " + DefaultCli + "), --keep DIR (leave both bundles there, to look into), --quiet";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = BenchOptions.Parse(args, valueOptions: [BenchGuest.Option, CheckpointsOption, CliOption, BenchDirectory.KeepOption], flagOptions: ["--quiet"], defaultRuns: 5);
        var checkpoints = int.TryParse(options.Value(CheckpointsOption, "5"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1
            ? n
            : throw new BenchUsageException($"{CheckpointsOption} needs a whole number >= 1");
        var given = options.Value(CliOption, string.Empty);
        if (given.Length > 0 && !File.Exists(given))
        {
            await Console.Error.WriteLineAsync($"bench: {Name}: {CliOption} {given} does not exist (the build output is {DefaultCli})").ConfigureAwait(false);
            return 1;
        }

        void Say(string text) => BenchOutput.Line(Name, text);
        Action<string>? progress = options.Flag("--quiet") ? null : text => Say("  " + text);
        using var directory = BenchDirectory.Create(options, "qtk-bench-fixed-");
        var root = directory.Path;
        return await BenchOutput.GuardAsync(Name, null, async () =>
        {
            if (await BenchGuest.PrepareAsync(Name, options, root, Say, icountShift: CommandLineOptions.DefaultRecordIcountShift, cancellationToken).ConfigureAwait(false) is not { } guest)
            {
                return 1;
            }

            var cli = given.Length > 0 ? Path.GetFullPath(given) : await InstalledCli.InstallAsync(root, Say, cancellationToken).ConfigureAwait(false);
            Say($"CLI: {cli}");

            var small = await CheckpointedRecording.KeepAsync(guest, Path.Combine(root, "small"), "fixed-cost", 0, null, cancellationToken).ConfigureAwait(false);
            var large = await CheckpointedRecording.KeepAsync(guest, Path.Combine(root, "large"), "fixed-cost", checkpoints, null, cancellationToken).ConfigureAwait(false);
            var smallMb = Megabytes(small);
            var largeMb = Megabytes(large);
            // Where each replay stops is read once, outside the timed runs (which restores a packed state image).
            var (smallUntil, smallImage) = await UntilFirstInstructionAsync(small, cancellationToken).ConfigureAwait(false);
            var (largeUntil, largeImage) = await UntilFirstInstructionAsync(large, cancellationToken).ConfigureAwait(false);
            // What a replay would copy without reusing its images is the state image, not the (packed) bundle.
            Say(string.Create(CultureInfo.InvariantCulture,
                $"bundles: {smallMb:0} MB (no checkpoint; state image {smallImage / 1e6:0} MB), {largeMb:0} MB ({checkpoints} checkpoints; state image {largeImage / 1e6:0} MB)"));
            var first = new[] { await TimeReplayAsync(cli, small, smallUntil, cancellationToken).ConfigureAwait(false), await TimeReplayAsync(cli, large, largeUntil, cancellationToken).ConfigureAwait(false) };
            Say($"  first replay of each (hashes every file): {BenchOutput.Duration(first[0])} and {BenchOutput.Duration(first[1])}");
            var stats = await Measure.AlternatingAsync(
                [
                    new Variant(string.Create(CultureInfo.InvariantCulture, $"{smallMb:0} MB bundle"), ct => ReplayAsync(cli, small, smallUntil, ct)),
                    new Variant(string.Create(CultureInfo.InvariantCulture, $"{largeMb:0} MB bundle"), ct => ReplayAsync(cli, large, largeUntil, ct)),
                ],
                options,
                cancellationToken,
                progress).ConfigureAwait(false);
            BenchOutput.Table(Name, stats);

            var smallTime = stats[0].Median;
            var largeTime = stats[1].Median;
            var ratio = largeTime / smallTime;
            var ok = smallTime.TotalSeconds <= GoalSeconds && largeTime.TotalSeconds <= GoalSeconds;
            Say($"  goal <= {GoalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s for both sizes: {(ok ? "ok" : "MISSED")}");
            Say(string.Create(CultureInfo.InvariantCulture,
                $"{BenchOutput.Duration(smallTime)} for {smallMb:0} MB, {BenchOutput.Duration(largeTime)} for {largeMb:0} MB ({ratio:0.00}x)"));
            return 0;
        }).ConfigureAwait(false);
    }

    private static async Task<TimeSpan> TimeReplayAsync(string cli, string bundle, string until, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await ReplayAsync(cli, bundle, until, ct).ConfigureAwait(false);
        return clock.Elapsed;
    }

    /// <summary>The CLI's whole life for a replay stopped at its first instruction; it must succeed.</summary>
    private static Task ReplayAsync(string cli, string bundle, string until, CancellationToken ct) =>
        BenchProcess.RunAsync(cli, ["replay", bundle, "--until", until, "--timeout", "120"], ct);

    /// <summary>The <c>--until</c> of the first replayed instruction: one past the start snapshot's (the ready state's) count.</summary>
    private static async Task<(string Until, long StateImageBytes)> UntilFirstInstructionAsync(string bundle, CancellationToken ct)
    {
        using var opened = await ReplayBundle.OpenAsync(bundle, ct).ConfigureAwait(false);
        var image = (await opened.StateImageAsync(ct).ConfigureAwait(false))!;
        var snapshots = Qcow2SnapshotTable.Read(image);
        var start = snapshots.FirstOrDefault(s => s.Name == ReadyState.SnapshotName)?.Icount
            ?? throw new BenchFailedException($"{bundle}: its state image has no '{ReadyState.SnapshotName}' snapshot with an icount");
        return (string.Create(CultureInfo.InvariantCulture, $"icount:{start + 1}"), new FileInfo(image).Length);
    }

    private static double Megabytes(string directory) =>
        new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) / 1e6;
}
