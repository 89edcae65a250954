using System.Diagnostics;
using QemuTestKit.Fixtures.Tests.Scenarios;
using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Fixtures.Xunit.Tests;

/// <summary>
/// The xunit.v3 adapter in real test runs: the scenario application (tests/Scenarios/Xunit) is run as a user's
/// test project would be, and the tests read what it left: exit code, TRX, bundles, QEMU processes.
/// </summary>
public sealed class XunitAdapterTests : IDisposable
{
    private const string Scenario = "QemuTestKit.Fixtures.Xunit.Scenarios.Scenarios.";
    private readonly ScenarioApp _app = new("Xunit");

    [Fact]
    public async Task A_failing_test_keeps_a_bundle_attached_to_its_result_with_the_replay_commands()
    {
        var run = await _app.RunAsync(["--filter-method", Scenario + "Fails_after_a_checkpoint"]);

        run.ExitCode.Should().Be(2, run.Output);
        var bundle = run.KeptBundles.Should().ContainSingle().Subject;
        await using var opened = await ReplayBundle.OpenAsync(bundle, TestContext.Current.CancellationToken);
        (await opened.VerifyAsync(TestContext.Current.CancellationToken)).IsIntact.Should().BeTrue();
        opened.Manifest.Test!.Name.Should().Be(Scenario + "Fails_after_a_checkpoint");
        opened.Manifest.Test.Outcome.Should().Be("Failed");
        opened.Manifest.Test.FailureMessage.Should().Contain("a moment that never comes");
        opened.Manifest.Checkpoints.Select(c => c.Name).Should().Equal("uptime-read");
        run.Trx.Should().Contain("bundle.json").And.Contain("console.log", "the bundle's manifest and transcript are attached to the result");
        run.Trx.Should().Contain($"qemutestkit replay {bundle} --from uptime-read");
        run.Trx.Should().Contain($"QEMUTESTKIT_REPLAY={bundle} dotnet test");
        (await _app.QemuLeftAsync()).Should().BeEmpty();
    }

    [Fact]
    public async Task A_passing_test_keeps_nothing()
    {
        var run = await _app.RunAsync(["--filter-method", Scenario + "Passes"]);

        run.ExitCode.Should().Be(0, run.Output);
        run.KeptBundles.Should().BeEmpty();
        (Directory.Exists(_app.RunRoot) ? Directory.GetDirectories(_app.RunRoot) : []).Should().BeEmpty("the recording of a passing test is deleted");
        (await _app.QemuLeftAsync()).Should().BeEmpty();
    }

    [Fact]
    public async Task Machines_a_test_forgot_to_dispose_are_stopped_when_the_test_ends()
    {
        var run = await _app.RunAsync(["--filter-method", Scenario + "Forgets_to_dispose_*"]);

        run.ExitCode.Should().Be(2, run.Output);
        _app.Pids.Should().HaveCount(2);
        File.ReadAllText(_app.CheckFile).Trim().Should().Be("alive after the tests:", "each QEMU stops when its test ends, not when the run does");
        var bundle = run.KeptBundles.Should().ContainSingle("only the failing test keeps its recording").Subject;
        await using var opened = await ReplayBundle.OpenAsync(bundle, TestContext.Current.CancellationToken);
        opened.Manifest.Test!.Name.Should().EndWith("Forgets_to_dispose_and_fails");
        (await opened.VerifyAsync(TestContext.Current.CancellationToken)).IsIntact.Should().BeTrue();
    }

    [Fact]
    public async Task A_test_that_times_out_leaves_no_QEMU_and_no_half_bundle()
    {
        // No TRX: xunit's platform adapter aborts writing one when a timed-out test's body fails after its cleanup.
        var run = await _app.RunAsync(["--filter-method", Scenario + "Times_out"], trx: false);

        run.ExitCode.Should().Be(2, run.Output);
        run.Output.Should().Contain("Times_out");
        run.Leftovers.Should().BeEmpty();
        // xunit abandons a timed-out test's After hook; the host still finishes the bundle before the process exits.
        // The scenario's body is slow to unwind, so the run ends before its After hook: the host ends it instead.
        var bundle = run.KeptBundles.Should().ContainSingle("a timed-out test failed, even one still unwinding when the run ended:\n{0}", run.Output).Subject;
        await using var opened = await ReplayBundle.OpenAsync(bundle, TestContext.Current.CancellationToken);
        (await opened.VerifyAsync(TestContext.Current.CancellationToken)).IsIntact.Should().BeTrue();
        opened.Manifest.Test!.Outcome.Should().Be("Failed");
        opened.Manifest.Test.FailureMessage.Should().Contain("still running", "the run ended before the test's own end");

        (await _app.QemuLeftAsync()).Should().BeEmpty();
    }

    [Fact]
    public async Task Ctrl_C_of_the_test_run_leaves_no_QEMU_and_no_half_bundle()
    {
        using var process = _app.Start(["--filter-method", Scenario + "Sleeps"], null, "interrupted", out var output, out _, out var bundles, trx: false);
        await _app.WaitForPidAsync(process, output, TimeSpan.FromMinutes(2));
        ScenarioApp.TestHostOf(_app.Pids[0]).Should().Be(process.Id, "without a TRX report the tests run in the process started");

        Kill(process.Id, "INT");
        using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90)))
        {
            await process.WaitForExitAsync(limit.Token);
        }

        (await _app.QemuLeftAsync()).Should().BeEmpty(ScenarioApp.Text(output));
        (Directory.Exists(bundles) ? Directory.GetFileSystemEntries(bundles).Where(e => e.EndsWith(".tmp", StringComparison.Ordinal)) : [])
            .Should().BeEmpty();
    }

    /// <summary>3 trials in CI; QTK_STRESS_TRIALS=20 for the stress run outside it.</summary>
    [Fact]
    public async Task Killing_the_test_host_with_SIGKILL_leaves_no_QEMU()
    {
        var trials = int.TryParse(Environment.GetEnvironmentVariable("QTK_STRESS_TRIALS"), out var n) && n > 0 ? n : 3;
        for (var trial = 1; trial <= trials; trial++)
        {
            File.Delete(_app.PidFile);
            using var process = _app.Start(["--filter-method", Scenario + "Sleeps"], null, $"killed-{trial}", out var output, out _, out _, trx: false);
            await _app.WaitForPidAsync(process, output, TimeSpan.FromMinutes(2));
            ScenarioApp.TestHostOf(_app.Pids[0]).Should().Be(process.Id, "without a TRX report the tests run in the process started");

            Kill(process.Id, "KILL");
            using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                await process.WaitForExitAsync(limit.Token);
            }

            (await _app.QemuLeftAsync(TimeSpan.FromSeconds(15))).Should().BeEmpty($"trial {trial}: QEMU dies with the test host");
        }
    }

    [Fact]
    public async Task Replaying_a_bundle_through_dotnet_test_reproduces_the_failing_assertion()
    {
        var recorded = await _app.RunAsync(["--filter-method", Scenario + "Fails_after_a_checkpoint"], name: "recorded");
        var bundle = recorded.KeptBundles.Should().ContainSingle().Subject;
        await using var opened = await ReplayBundle.OpenAsync(bundle, TestContext.Current.CancellationToken);
        var failure = opened.Manifest.Test!.FailureMessage!;

        var replayed = await _app.RunAsync(["--filter-method", Scenario + "Fails_after_a_checkpoint"],
            new Dictionary<string, string> { ["QEMUTESTKIT_REPLAY"] = bundle }, "replayed");

        replayed.ExitCode.Should().Be(2, replayed.Output);
        // The message quotes the guest's uptime, which only that recorded execution had.
        failure.Should().MatchRegex(@"\d+\.\d\d");
        replayed.Trx.Should().Contain(System.Security.SecurityElement.Escape(failure.Split('\n')[^1].Trim()));
        replayed.Trx.Should().Contain("console bytes identical to the recording");
        replayed.KeptBundles.Should().BeEmpty("a replay records nothing new");
    }

    [Fact]
    public async Task Replaying_a_bundle_of_another_test_fails_with_a_message_naming_both()
    {
        var recorded = await _app.RunAsync(["--filter-method", Scenario + "Fails_after_a_checkpoint"], name: "recorded");
        var bundle = recorded.KeptBundles.Should().ContainSingle().Subject;

        var other = await _app.RunAsync(["--filter-method", Scenario + "Passes"], new Dictionary<string, string> { ["QEMUTESTKIT_REPLAY"] = bundle }, "other");

        other.ExitCode.Should().Be(2);
        other.Output.Should().Contain($"names a bundle of test '{Scenario}Fails_after_a_checkpoint', but this is '{Scenario}Passes'");
    }

    public void Dispose() => _app.Dispose();

    private static void Kill(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }
}
