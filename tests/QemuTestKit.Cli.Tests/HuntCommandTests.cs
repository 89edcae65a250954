using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
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
            new Dictionary<string, string?>
            {
                ["QTK_FAIL_ON_RUN"] = "2",
                ["QEMUTESTKIT_RUN_ROOT"] = Path.Combine(_temp.Path, "run"),
                // Shorter than any build or run, so that the progress lines must appear.
                ["QEMUTESTKIT_PROGRESS_INTERVAL"] = "1",
            },
            cancellationToken: TestContext.Current.CancellationToken);

        hunt.ExitCode.Should().Be(0, hunt.ToString());
        var lines = hunt.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        lines[0].Should().Be($"hunt: building {ScenarioProject()} ({Configuration})");
        lines.Should().Contain(l => Regex.IsMatch(l, @"^hunt: still building \(\d+ s\)$"), hunt.ToString());
        lines.Should().Contain(l => Regex.IsMatch(l, @"^hunt: run 1/5 starting, \d+ s into the hunt$"));
        lines.Should().Contain(l => Regex.IsMatch(l, @"^hunt: run [12]/5 still running \(\d+ s\)$"), hunt.ToString());
        lines.Should().Contain(l => l.StartsWith("hunt: run 1/5 passed", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("hunt: run 2/5 FAILED", StringComparison.Ordinal));
        // Read from the run's TRX, not from console lines.
        lines.Should().Contain("hunt: failed: QemuTestKit.Fixtures.Xunit.Scenarios.HuntTarget.Fails_on_the_chosen_run", hunt.ToString());
        lines.Should().Contain($"hunt: results: {Path.Combine(output, "run-002", "results.trx")}");
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
    public async Task Hunt_json_is_one_document_with_the_failed_test_and_its_message_from_the_trx()
    {
        var output = Path.Combine(_temp.Path, "hunt-json");
        var hunt = await CliRunner.RunAsync(
            ["hunt", "--project", ScenarioProject(), "--filter", "*Fails_on_the_chosen_run", "--runs", "3", "--output", output, "-c", Configuration, "--json"],
            _temp.Path, TimeSpan.FromMinutes(6),
            new Dictionary<string, string?> { ["QTK_FAIL_ON_RUN"] = "1", ["QEMUTESTKIT_RUN_ROOT"] = Path.Combine(_temp.Path, "run") },
            cancellationToken: TestContext.Current.CancellationToken);

        hunt.ExitCode.Should().Be(0, hunt.ToString());
        var json = JsonNode.Parse(hunt.Stdout)!.AsObject();
        json["caught"]!.GetValue<bool>().Should().BeTrue();
        json["project"]!.GetValue<string>().Should().Be(ScenarioProject());
        json["runsDone"]!.GetValue<int>().Should().Be(1);
        var failure = json["failure"]!;
        failure["run"]!.GetValue<int>().Should().Be(1);
        failure["trx"]!.GetValue<string>().Should().Be(Path.Combine(output, "run-001", "results.trx"));
        File.Exists(failure["trx"]!.GetValue<string>()).Should().BeTrue();
        var test = failure["failedTests"]!.AsArray().Should().ContainSingle().Subject!;
        test["name"]!.GetValue<string>().Should().Be("QemuTestKit.Fixtures.Xunit.Scenarios.HuntTarget.Fails_on_the_chosen_run");
        test["message"]!.GetValue<string>().Should().Contain("run 1 fails on purpose");
        var bundle = failure["bundles"]!.AsArray().Should().ContainSingle().Subject!.GetValue<string>();
        Directory.Exists(bundle).Should().BeTrue();
        failure["replay"]!.GetValue<string>().Should().Be($"qemutestkit replay {bundle} --from uptime-read");
        // The bundle is named in the failed test's StdOut inside the TRX, where hunt reads it from.
        System.Xml.Linq.XDocument.Load(failure["trx"]!.GetValue<string>()).Descendants().Where(e => e.Name.LocalName == "StdOut").Select(e => e.Value)
            .Should().Contain(o => o.Contains($"qemutestkit: kept the recording of machine 'hello': {bundle}", StringComparison.Ordinal));
        hunt.Stderr.Should().Contain("hunt: building ").And.Contain("hunt: run 1/3 FAILED", "the human lines go to stderr with --json");
    }

    [Fact]
    public async Task Hunt_refuses_a_VSTest_project_in_one_line_that_says_what_to_change()
    {
        var project = Directory.CreateDirectory(Path.Combine(_temp.Path, "VsTestProject")).FullName;
        await File.WriteAllTextAsync(Path.Combine(project, "VsTestProject.csproj"), """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <IsPackable>false</IsPackable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="MSTest.TestAdapter" Version="4.5.2" />
                <PackageReference Include="MSTest.TestFramework" Version="4.5.2" />
              </ItemGroup>
            </Project>
            """, TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(project, "Tests.cs"), """
            namespace VsTestProject;

            [Microsoft.VisualStudio.TestTools.UnitTesting.TestClass]
            public sealed class Tests
            {
                [Microsoft.VisualStudio.TestTools.UnitTesting.TestMethod]
                public void Passes() { }
            }
            """, TestContext.Current.CancellationToken);

        var hunt = await CliRunner.RunAsync(["hunt", "--project", project, "--filter", "Passes", "--runs", "1", "--output", Path.Combine(_temp.Path, "out")],
            _temp.Path, TimeSpan.FromMinutes(5), cancellationToken: TestContext.Current.CancellationToken);

        var message = hunt.ShouldFailCleanly(1, TimeSpan.FromMinutes(5));
        message.Should().Contain("is not a Microsoft.Testing.Platform test application")
            .And.Contain("<EnableMSTestRunner>true</EnableMSTestRunner>")
            .And.Contain("<OutputType>Exe</OutputType>")
            .And.Contain("{\"test\":{\"runner\":\"Microsoft.Testing.Platform\"}}");
        hunt.Stderr.Should().NotContain("MSB", "no raw MSBuild error");
        Directory.Exists(Path.Combine(_temp.Path, "out")).Should().BeFalse("no run was started");
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
