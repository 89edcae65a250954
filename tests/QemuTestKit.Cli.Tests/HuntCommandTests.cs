using System.Reflection;
using QemuTestKit.Cli.Tests.Support;

namespace QemuTestKit.Cli.Tests;

/// <summary>
/// qemutestkit hunt on a real test project (tests/Scenarios/Xunit, the fixture scenarios) whose hunt target fails on
/// a run number chosen by the test.
/// </summary>
public sealed class HuntCommandTests : IDisposable
{
    private static readonly string Configuration =
        typeof(HuntCommandTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    private readonly TempDirectory _temp = new();

    [Fact]
    public async Task Hunt_stops_at_the_failing_run_and_prints_a_replay_command_that_works()
    {
        var output = Path.Combine(_temp.Path, "hunt");
        var hunt = await CliRunner.RunAsync(
            ["hunt", "--project", ScenarioProject(), "--filter", "*Fails_on_the_chosen_run", "--runs", "5", "--output", output, "-c", Configuration],
            _temp.Path, TimeSpan.FromMinutes(6),
            new Dictionary<string, string?> { ["QTK_FAIL_ON_RUN"] = "2", ["QEMUTESTKIT_RUN_ROOT"] = Path.Combine(_temp.Path, "run") },
            cancellationToken: TestContext.Current.CancellationToken);

        hunt.ExitCode.Should().Be(0, hunt.ToString());
        var lines = hunt.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        lines.Should().Contain(l => l.StartsWith("hunt: run 1/5 passed", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("hunt: run 2/5 FAILED", StringComparison.Ordinal));
        lines.Should().NotContain(l => l.StartsWith("hunt: run 3/5", StringComparison.Ordinal), "the hunt stops at the first failure");
        Directory.Exists(Path.Combine(output, "run-001")).Should().BeFalse("passing runs are deleted");
        var last = lines[^1];
        last.Should().MatchRegex(@"^hunt: run 2 failed; replay: qemutestkit replay .+\.qtkreplay --from uptime-read$");

        var replayArguments = last[(last.IndexOf("qemutestkit replay ", StringComparison.Ordinal) + "qemutestkit ".Length)..].Split(' ');
        var replay = await CliRunner.RunAsync(replayArguments, _temp.Path, TimeSpan.FromMinutes(3), cancellationToken: TestContext.Current.CancellationToken);

        replay.ExitCode.Should().Be(0, replay.ToString());
        replay.Stdout.Should().MatchRegex(@"replay: identical \(\d+ bytes from uptime-read\)");
    }

    [Fact]
    public async Task Hunt_with_a_filter_that_selects_nothing_is_one_clear_error()
    {
        var hunt = await CliRunner.RunAsync(
            ["hunt", "--project", ScenarioProject(), "--filter", "No.Such.Test", "--runs", "2", "--output", Path.Combine(_temp.Path, "none"), "-c", Configuration],
            _temp.Path, TimeSpan.FromMinutes(4), cancellationToken: TestContext.Current.CancellationToken);

        hunt.ShouldFailCleanly(1, TimeSpan.FromMinutes(4)).Should().Contain("the filter 'No.Such.Test' selects no test");
    }

    [Fact]
    public async Task Hunt_of_a_missing_project_is_one_clear_error()
    {
        var hunt = await CliRunner.RunAsync(["hunt", "--project", "/nonexistent/Guest.Tests.csproj", "--filter", "x"], _temp.Path,
            cancellationToken: TestContext.Current.CancellationToken);

        hunt.ShouldFailCleanly(1, TimeSpan.FromSeconds(30)).Should().Be("qemutestkit: error: --project /nonexistent/Guest.Tests.csproj: no such project file");
    }

    public void Dispose() => _temp.Dispose();

    private static string ScenarioProject()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var project = Path.Combine(directory.FullName, "tests", "Scenarios", "Xunit", "QemuTestKit.Fixtures.Xunit.Scenarios.csproj");
            if (File.Exists(project))
            {
                return project;
            }
        }

        throw new InvalidOperationException($"tests/Scenarios/Xunit not found above {AppContext.BaseDirectory}");
    }
}
