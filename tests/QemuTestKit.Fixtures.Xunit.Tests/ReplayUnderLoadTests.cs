using System.Globalization;
using System.Security;
using QemuTestKit.Fixtures.Tests.Scenarios;
using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Fixtures.Xunit.Tests;

/// <summary>
/// The product's promise under the conditions users' CI has: a failing test, rerun against its recording
/// (<c>QEMUTESTKIT_REPLAY</c>) while every core is busy, fails with the recorded message every time. The replay runs
/// slower than the recording did, so anything the host side decides by the clock (a resent synchronization, say)
/// would hand a command another command's output. Each trial replays from the start and from the last checkpoint
/// (QEMUTESTKIT_REPLAY_FROM), where the test's earlier commands must find their output in the recording's console.
/// QTK_STRESS_TRIALS sets the number of trials (2 in CI).
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
            foreach (var from in (string?[])[null, "after-loop"])
            {
                var environment = new Dictionary<string, string> { ["QEMUTESTKIT_REPLAY"] = bundle };
                if (from is not null)
                {
                    environment["QEMUTESTKIT_REPLAY_FROM"] = from;
                }

                var what = $"trial {trial} of {trials}, from {from ?? "the start"}";
                var replayed = await _app.RunAsync(["--filter-method", Test], environment, $"replayed-{trial}-{from ?? "start"}");

                replayed.ExitCode.Should().Be(2, $"{what}: {replayed.Output}");
                replayed.Trx.Should().Contain(message, $"{what} must fail with the recorded message");
                replayed.Trx.Should().Contain($"from {from ?? "ready"}: ", what).And.Contain("console bytes identical to the recording", what);
            }
        }
    }

    public void Dispose() => _app.Dispose();
}
