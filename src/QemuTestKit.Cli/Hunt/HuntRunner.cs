using System.Globalization;
using QemuTestKit.Machines.Replay;

namespace QemuTestKit.Cli.Hunt;

/// <summary>What a hunt was asked to do.</summary>
internal sealed record HuntOptions(string Project, string Filter, int Runs, int Parallel, bool Perturb, string Configuration, string Output, TimeSpan RunTimeout);

/// <summary>A failing run and what it kept.</summary>
internal sealed record HuntCatch(int Run, string Directory, IReadOnlyList<string> FailedTests, IReadOnlyList<string> Bundles, string? Perturbation);

/// <summary>
/// Runs the selected tests again and again, each run recorded into its own directory, until one fails: that run's
/// bundles are kept, passing runs are deleted. K runs go at once; --perturb varies what QEMU lets vary between runs.
/// </summary>
internal sealed class HuntRunner
{
    private static readonly int[] PerturbShifts = [5, 4, 6, 3, 7];
    private readonly HuntOptions _options;
    private readonly Action<string> _say;

    public HuntRunner(HuntOptions options, Action<string> say)
    {
        _options = options;
        _say = say;
    }

    /// <summary>The first failing run, or null when all runs passed.</summary>
    public async Task<HuntCatch?> RunAsync(CancellationToken cancellationToken)
    {
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

        ProcessRun.Result result;
        using (new HostLoad(load))
        {
            result = await ProcessRun.RunAsync("dotnet",
                ["test", "--project", project.ProjectFile, "--no-build", "-c", _options.Configuration, "--no-ansi", "--progress", "off",
                    .. project.FilterArguments(_options.Filter), "--results-directory", directory],
                // From the project's directory: dotnet test picks its runner from the global.json that directory sees.
                environment, Path.Combine(directory, "output.log"), _options.RunTimeout, ct, Path.GetDirectoryName(project.ProjectFile)).ConfigureAwait(false);
        }

        var what = perturbation is null ? string.Empty : $" [{perturbation}]";
        switch (result.ExitCode)
        {
            case 0:
                _say(string.Create(CultureInfo.InvariantCulture, $"hunt: run {run}/{_options.Runs} passed ({result.Elapsed.TotalSeconds:0.0} s){what}"));
                TryDelete(directory);
                return null;
            case 8:
                throw new HuntException($"the filter '{_options.Filter}' selects no test of {project.ProjectFile}");
            case 2 or -1:
                var failed = result.Output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("failed ", StringComparison.Ordinal))
                    .Select(l => System.Text.RegularExpressions.Regex.Replace(l["failed ".Length..], @" \([^()]*\)$", string.Empty)).ToArray();
                var kept = Directory.Exists(bundles) ? Directory.GetDirectories(bundles, "*.qtkreplay").Order(StringComparer.Ordinal).ToArray() : [];
                _say(string.Create(CultureInfo.InvariantCulture,
                    $"hunt: run {run}/{_options.Runs} FAILED ({result.Elapsed.TotalSeconds:0.0} s){what}{(result.TimedOut ? ": timed out" : string.Empty)}"));
                return new HuntCatch(run, directory, failed, kept, perturbation);
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
