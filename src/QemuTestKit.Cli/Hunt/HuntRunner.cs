using System.Diagnostics;
using System.Globalization;
using QemuTestKit.Cli.Progress;
using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Cli.Hunt;

/// <summary>What a hunt was asked to do.</summary>
internal sealed record HuntOptions(string Project, string Filter, int Runs, int Parallel, bool Perturb, string Configuration, string Output, TimeSpan RunTimeout);

/// <summary>A failing run and what it kept.</summary>
/// <param name="Trx">The run's TRX file, when the test application wrote one (a run killed at its timeout did not).</param>
internal sealed record HuntCatch(
    int Run, string Directory, string? Trx, IReadOnlyList<TrxTestResult> FailedTests, IReadOnlyList<string> Bundles, string? Perturbation, bool TimedOut);

/// <summary>
/// Runs the selected tests again and again, each run recorded into its own directory, until one fails: that run's
/// bundles are kept, passing runs are deleted. K runs go at once; --perturb varies what QEMU lets vary between runs.
/// </summary>
internal sealed class HuntRunner
{
    private static readonly int[] PerturbShifts = [5, 4, 6, 3, 7];
    private const string TrxFileName = "results.trx";
    private readonly HuntOptions _options;
    private readonly Action<string> _say;
    private readonly Stopwatch _clock = new();
    private int _runsDone;

    public HuntRunner(HuntOptions options, Action<string> say)
    {
        _options = options;
        _say = say;
    }

    /// <summary>Runs that have finished.</summary>
    public int RunsDone => Volatile.Read(ref _runsDone);

    /// <summary>The first failing run, or null when all runs passed.</summary>
    public async Task<HuntCatch?> RunAsync(CancellationToken cancellationToken)
    {
        _clock.Start();
        var project = await TestProject.BuildAsync(_options.Project, _options.Configuration, _say, cancellationToken).ConfigureAwait(false);
        Directory.CreateDirectory(_options.Output);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var next = 0;
        HuntCatch? caught = null;
        var gate = new object();

        async Task WorkerAsync()
        {
            while (true)
            {
                int run;
                lock (gate)
                {
                    if (caught is not null || next >= _options.Runs)
                    {
                        return;
                    }

                    run = ++next;
                }

                HuntCatch? failure;
                try
                {
                    failure = await RunOnceAsync(project, run, stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    return; // another run caught the failure first
                }

                if (failure is not null)
                {
                    lock (gate)
                    {
                        if (caught is null || failure.Run < caught.Run)
                        {
                            caught = failure;
                        }
                    }

                    await stop.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Math.Max(1, _options.Parallel)).Select(_ => WorkerAsync())).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return caught;
    }

    private async Task<HuntCatch?> RunOnceAsync(TestProject project, int run, CancellationToken ct)
    {
        var directory = Path.Combine(_options.Output, string.Create(CultureInfo.InvariantCulture, $"run-{run:D3}"));
        Directory.CreateDirectory(directory);
        var bundles = Path.Combine(directory, "bundles");
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["QEMUTESTKIT_HUNT_RUN"] = run.ToString(CultureInfo.InvariantCulture),
            ["QEMUTESTKIT_BUNDLE_DIR"] = bundles,
            ["QEMUTESTKIT_KEEP"] = "failed",
            ["QEMUTESTKIT_RECORD"] = "true",
        };
        string? perturbation = null;
        var load = 0;
        if (_options.Perturb)
        {
            // Run 1 is unperturbed; later runs walk through icount shifts and host loads.
            var shift = PerturbShifts[(run - 1) % PerturbShifts.Length];
            load = (run - 1) * 37 % 101;
            environment["QEMUTESTKIT_ICOUNT_SHIFT"] = shift.ToString(CultureInfo.InvariantCulture);
            perturbation = string.Create(CultureInfo.InvariantCulture, $"icount shift {shift}, host load {load}%");
        }

        var what = perturbation is null ? string.Empty : $" [{perturbation}]";
        _say(string.Create(CultureInfo.InvariantCulture, $"hunt: run {run}/{_options.Runs} starting, {Heartbeat.Seconds(_clock.Elapsed)} into the hunt{what}"));
        ProcessRun.Result result;
        using (new HostLoad(load))
        {
            await using var heartbeat = Heartbeat.Start(
                elapsed => string.Create(CultureInfo.InvariantCulture, $"hunt: run {run}/{_options.Runs} still running ({Heartbeat.Seconds(elapsed)})"), _say, ct);
            // The test application itself, not dotnet test: its own options (--report-trx, filters) whatever runner global.json picks.
            result = await ProcessRun.RunAsync("dotnet",
                [project.TestApplication, "--no-ansi", "--no-progress", .. project.FilterArguments(_options.Filter),
                    "--results-directory", directory, "--report-trx", "--report-trx-filename", TrxFileName],
                environment, Path.Combine(directory, "output.log"), _options.RunTimeout, ct, Path.GetDirectoryName(project.ProjectFile)).ConfigureAwait(false);
        }

        Interlocked.Increment(ref _runsDone);
        switch (result.ExitCode)
        {
            case 0:
                _say(string.Create(CultureInfo.InvariantCulture, $"hunt: run {run}/{_options.Runs} passed ({result.Elapsed.TotalSeconds:0.0} s){what}"));
                TryDelete(directory);
                return null;
            case 8:
                throw new HuntException($"the filter '{_options.Filter}' selects no test of {project.ProjectFile}");
            case 2 or -1:
                var trx = Path.Combine(directory, TrxFileName);
                var failed = File.Exists(trx) ? (await TrxResults.ReadAsync(trx, ct).ConfigureAwait(false)).Where(r => r.Failed).ToArray() : [];
                var kept = failed.SelectMany(TrxResults.Bundles).Distinct(StringComparer.Ordinal).ToArray();
                if (kept.Length == 0 && Directory.Exists(bundles))
                {
                    // A test that failed before it printed where its bundle went (or a run killed at its timeout).
                    kept = Directory.GetDirectories(bundles, "*.qtkreplay").Order(StringComparer.Ordinal).ToArray();
                }

                _say(string.Create(CultureInfo.InvariantCulture,
                    $"hunt: run {run}/{_options.Runs} FAILED ({result.Elapsed.TotalSeconds:0.0} s){what}{(result.TimedOut ? ": timed out" : string.Empty)}"));
                return new HuntCatch(run, directory, File.Exists(trx) ? trx : null, failed, kept, perturbation, result.TimedOut);
            default:
                throw new HuntException(string.Create(CultureInfo.InvariantCulture,
                    $"run {run}: the test application exited with {result.ExitCode} (not a test failure); its output is in {directory}/output.log:\n{ProcessRun.Tail(result.Output)}"));
        }
    }

    /// <summary>The replay command of a kept bundle, from its last checkpoint.</summary>
    public static async Task<string> ReplayCommandAsync(string bundle, CancellationToken ct)
    {
        await using var opened = await ReplayBundle.OpenAsync(bundle, ct).ConfigureAwait(false);
        var last = opened.Manifest.Checkpoints.Count > 0 ? $" --from {opened.Manifest.Checkpoints[^1].Name}" : string.Empty;
        return $"qemutestkit replay {bundle}{last}";
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
