using System.CommandLine;
using System.Globalization;
using QemuTestKit.Cli.Hunt;

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
        var command = new Command("hunt", "Run tests repeatedly, recorded, until one fails; keep its replay bundle")
        {
            project, filter, runs, parallel, perturb, configuration, output, timeout,
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
            var caught = await new HuntRunner(options, line => Console.WriteLine(line)).RunAsync(ct);
            if (caught is null)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"hunt: no failure in {options.Runs} runs"));
                return 1;
            }

            foreach (var test in caught.FailedTests)
            {
                Console.WriteLine($"hunt: failed: {test}");
            }

            Console.WriteLine($"hunt: output of the failing run: {Path.Combine(caught.Directory, "output.log")}");
            if (caught.Bundles.Count == 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"hunt: run {caught.Run} failed but kept no bundle (are the failing tests' machines recorded? see the output)"));
                return 0;
            }

            string? last = null;
            foreach (var bundle in caught.Bundles)
            {
                Console.WriteLine($"hunt: bundle: {bundle}");
                last = await HuntRunner.ReplayCommandAsync(bundle, ct);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"hunt: run {caught.Run} failed; replay: {last}"));
            return 0;
        });
        return command;
    }
}
