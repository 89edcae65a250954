using System.Globalization;
using System.Security;
using QemuTestKit.Fixtures.Tests.Scenarios;
using QemuTestKit.Machines.Replay;

namespace QemuTestKit.Fixtures.Xunit.Tests;

/// <summary>
/// The product's promise under the conditions users' CI has: a failing test, rerun against its recording
/// (<c>QEMUTESTKIT_REPLAY</c>) while every core is busy, fails with the recorded message every time. The replay runs
/// slower than the recording did, so anything the host side decides by the clock (a resent synchronization, say)
/// would hand a command another command's output. QTK_STRESS_TRIALS sets the number of reruns (2 in CI).
/// </summary>
public sealed class ReplayUnderLoadTests : IDisposable
{
    private const string Test = "QemuTestKit.Fixtures.Xunit.Scenarios.Scenarios.Fails_after_a_long_command_between_checkpoints";
    private readonly ScenarioApp _app = new("Xunit");

    [Fact]
    public async Task A_rerun_against_the_recording_on_busy_cores_fails_with_the_recorded_message_every_time()
    {
        var trials = int.Parse(Environment.GetEnvironmentVariable("QTK_STRESS_TRIALS") ?? "2", CultureInfo.InvariantCulture);
        var recorded = await _app.RunAsync(["--filter-method", Test], name: "recorded");
        recorded.ExitCode.Should().Be(2, recorded.Output);
        var bundle = recorded.KeptBundles.Should().ContainSingle().Subject;
        string failure;
        await using (var opened = await ReplayBundle.OpenAsync(bundle, TestContext.Current.CancellationToken))
        {
            failure = opened.Manifest.Test!.FailureMessage!;
        }

        failure.Should().MatchRegex(@"loop 20000, random \d+", "each command got its own output in the recording");
        var message = SecurityElement.Escape(failure.Split('\n')[^1].Trim());

        using var load = new BusyCores();
        for (var trial = 1; trial <= trials; trial++)
        {
            var replayed = await _app.RunAsync(["--filter-method", Test],
                new Dictionary<string, string> { ["QEMUTESTKIT_REPLAY"] = bundle }, $"replayed-{trial}");

            replayed.ExitCode.Should().Be(2, $"trial {trial}: {replayed.Output}");
            replayed.Trx.Should().Contain(message, $"trial {trial} of {trials} must fail with the recorded message");
            replayed.Trx.Should().Contain("console bytes identical to the recording", $"trial {trial}");
        }
    }

    public void Dispose() => _app.Dispose();
}
