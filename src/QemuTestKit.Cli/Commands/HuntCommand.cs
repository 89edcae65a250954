using System.CommandLine;
using System.Globalization;
using QemuTestKit.Cli.Hunt;
using QemuTestKit.Cli.Output.Json;

namespace QemuTestKit.Cli.Commands;

/// <summary>
/// <c>qemutestkit hunt</c>: runs selected tests repeatedly, recorded, until the first failure, and prints the kept
/// bundle and the command that replays it. Exit code 0 when a failure was caught, 1 when every run passed.
/// </summary>
internal static class HuntCommand
{
    public static Command Create()
    {
        var project = new Option<string>("--project") { Description = "The test project (.csproj, or its directory)", Required = true };
        var filter = new Option<string>("--filter")
        {
            Description = "The tests to run: xunit.v3 method name (wildcards *) or query filter (/...); MSTest filter expression or name",
            Required = true,
        };
        var runs = new Option<int>("--runs") { Description = "Give up after this many runs", DefaultValueFactory = _ => 20, CustomParser = r => PositiveNumber.Parse(r) };
        var parallel = new Option<int>("--parallel") { Description = "Runs at once", DefaultValueFactory = _ => 1, CustomParser = r => PositiveNumber.Parse(r) };
        var perturb = new Option<bool>("--perturb") { Description = "Vary the icount shift and the host load between runs to shake out timing-dependent failures" };
        var configuration = new Option<string>("--configuration", "-c") { Description = "Build configuration", DefaultValueFactory = _ => "Release" };
        var output = new Option<string?>("--output") { Description = "Where runs are kept (default: TestResults/hunt-<time>)" };
        var timeout = new Option<int>("--run-timeout")
        {
            Description = "Seconds one run may take",
            DefaultValueFactory = _ => 600,
            CustomParser = r => PositiveNumber.Parse(r, PositiveNumber.MaxSeconds),
        };
        var json = new Option<bool>("--json") { Description = "Print the outcome as one JSON document on stdout (progress goes to stderr)" };
        var command = new Command("hunt", "Run tests repeatedly, recorded, until one fails; keep its replay bundle")
        {
            project, filter, runs, parallel, perturb, configuration, output, timeout, json,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new HuntOptions(
                parse.GetValue(project)!,
                parse.GetValue(filter)!,
                parse.GetValue(runs),
                parse.GetValue(parallel),
                parse.GetValue(perturb),
                parse.GetValue(configuration)!,
                Path.GetFullPath(parse.GetValue(output) ?? Path.Combine("TestResults", $"hunt-{DateTime.Now:yyyyMMdd-HHmmss}")),
                TimeSpan.FromSeconds(parse.GetValue(timeout)));
            var human = parse.GetValue(json) ? Console.Error : Console.Out;
            void Say(string line) => human.WriteLine(line);
            var runner = new HuntRunner(options, Say);
            var caught = await runner.RunAsync(ct);
            var replay = caught is null ? null : await ReportAsync(caught, Say, ct);
            if (caught is null)
            {
                Say(string.Create(CultureInfo.InvariantCulture, $"hunt: no failure in {options.Runs} runs"));
            }

            if (parse.GetValue(json))
            {
                var failure = caught is null ? null : new HuntReport.FailingRun(caught.Run, caught.Directory, Path.Combine(caught.Directory, "output.log"), caught.Trx,
                    caught.Perturbation, caught.TimedOut, [.. caught.FailedTests.Select(t => new HuntReport.FailedTest(t.Name, t.Message))], caught.Bundles, replay);
                await JsonOutput.WriteAsync(new HuntReport(Path.GetFullPath(options.Project), options.Filter, options.Runs, runner.RunsDone, options.Output, caught is not null, failure),
                    CliJsonContext.Default.HuntReport);
            }

            return caught is null ? 1 : 0;
        });
        return command;
    }

    /// <summary>The human lines of a caught failure; returns the replay command of its last bundle.</summary>
    private static async Task<string?> ReportAsync(HuntCatch caught, Action<string> say, CancellationToken ct)
    {
        foreach (var test in caught.FailedTests)
        {
            say($"hunt: failed: {test.Name}");
        }

        say($"hunt: output of the failing run: {Path.Combine(caught.Directory, "output.log")}");
        if (caught.Trx is not null)
        {
            say($"hunt: results: {caught.Trx}");
        }

        if (caught.Bundles.Count == 0)
        {
            say(string.Create(CultureInfo.InvariantCulture,
                $"hunt: run {caught.Run} failed but kept no bundle (are the failing tests' machines recorded? see the output)"));
            return null;
        }

        string? last = null;
        foreach (var bundle in caught.Bundles)
        {
            say($"hunt: bundle: {bundle}");
            last = await HuntRunner.ReplayCommandAsync(bundle, ct);
        }

        say(string.Create(CultureInfo.InvariantCulture, $"hunt: run {caught.Run} failed; replay: {last}"));
        return last;
    }
}
