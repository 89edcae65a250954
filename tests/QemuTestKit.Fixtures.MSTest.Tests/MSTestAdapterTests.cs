using QemuTestKit.Fixtures.Tests.Scenarios;
using QemuTestKit.Machines.Bundles;
using TestContext = Xunit.TestContext;

namespace QemuTestKit.Fixtures.MSTest.Tests;

/// <summary>
/// The MSTest adapter in real MSTest runs: the scenario application (tests/Scenarios/MSTest) is run as a user's
/// test project would be, and the tests read its exit code, TRX, bundles and QEMU processes. (Timeouts, Ctrl+C and
/// SIGKILL of the test host are the shared core's, proven through the xunit adapter.)
/// </summary>
public sealed class MSTestAdapterTests : IDisposable
{
    private const string Scenario = "QemuTestKit.Fixtures.MSTest.Scenarios.Scenarios.";
    private readonly ScenarioApp _app = new("MSTest");

    [Fact]
    public async Task A_failing_test_keeps_a_bundle_attached_with_AddResultFile()
    {
        var run = await _app.RunAsync(["--filter", $"FullyQualifiedName={Scenario}Fails_after_a_checkpoint"]);

        run.ExitCode.Should().Be(2, run.Output);
        var bundle = run.KeptBundles.Should().ContainSingle().Subject;
        await using var opened = await ReplayBundle.OpenAsync(bundle, TestContext.Current.CancellationToken);
        (await opened.VerifyAsync(TestContext.Current.CancellationToken)).IsIntact.Should().BeTrue();
        opened.Manifest.Test!.Name.Should().Be(Scenario + "Fails_after_a_checkpoint");
        opened.Manifest.Test.FailureMessage.Should().Contain("a moment that never comes");
        opened.Manifest.Checkpoints.Select(c => c.Name).Should().Equal("uptime-read");
        run.Trx.Should().Contain("<ResultFiles>").And.Contain("bundle.json").And.Contain("console.log");
        run.Trx.Should().Contain($"qemutestkit replay {bundle} --from uptime-read");
        run.Trx.Should().Contain($"--filter FullyQualifiedName={Scenario}Fails_after_a_checkpoint");
        (await _app.QemuLeftAsync()).Should().BeEmpty();
    }

    [Fact]
    public async Task A_passing_test_keeps_nothing()
    {
        var run = await _app.RunAsync(["--filter", $"FullyQualifiedName={Scenario}Passes"]);

        run.ExitCode.Should().Be(0, run.Output);
        run.KeptBundles.Should().BeEmpty();
        (Directory.Exists(_app.RunRoot) ? Directory.GetDirectories(_app.RunRoot) : []).Should().BeEmpty("the recording of a passing test is deleted");
        (await _app.QemuLeftAsync()).Should().BeEmpty();
    }

    [Fact]
    public async Task Machines_a_test_forgot_to_dispose_are_stopped_when_the_test_ends()
    {
        var run = await _app.RunAsync(["--filter", "FullyQualifiedName~Forgets_to_dispose"]);

        run.ExitCode.Should().Be(2, run.Output);
        _app.Pids.Should().HaveCount(2);
        File.ReadAllText(_app.CheckFile).Trim().Should().Be("alive after the tests:", "each QEMU stops when its test ends, not when the run does");
        run.KeptBundles.Should().ContainSingle("only the failing test keeps its recording")
            .Which.Should().Contain("Forgets_to_dispose_and_fails");
    }

    [Fact]
    public async Task Replaying_a_bundle_through_dotnet_test_reproduces_the_failing_assertion()
    {
        var filter = (string[])["--filter", $"FullyQualifiedName={Scenario}Fails_after_a_checkpoint"];
        var recorded = await _app.RunAsync(filter, name: "recorded");
        var bundle = recorded.KeptBundles.Should().ContainSingle().Subject;
        await using var opened = await ReplayBundle.OpenAsync(bundle, TestContext.Current.CancellationToken);
        var failure = opened.Manifest.Test!.FailureMessage!;

        var replayed = await _app.RunAsync(filter, new Dictionary<string, string> { ["QEMUTESTKIT_REPLAY"] = bundle }, "replayed");

        replayed.ExitCode.Should().Be(2, replayed.Output);
        failure.Should().MatchRegex(@"\d+\.\d\d", "the message quotes the guest's uptime, which only that recorded execution had");
        replayed.Trx.Should().Contain(System.Security.SecurityElement.Escape(failure.Split('\n')[0].Trim()));
        replayed.Trx.Should().Contain("console bytes identical to the recording");
    }

    public void Dispose() => _app.Dispose();
}
