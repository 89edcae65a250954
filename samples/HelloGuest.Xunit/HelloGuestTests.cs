using QemuTestKit.Fixtures.Xunit;

namespace HelloGuest.Xunit;

/// <summary>
/// Each test gets a fresh "hello" machine from the ready snapshot the build saved, recorded. A failing test keeps
/// its recording as a replay bundle in the test results, with the command that replays it.
/// </summary>
public sealed class HelloGuestTests(QemuFixture qemu) : IClassFixture<QemuFixture>
{
    [Fact]
    public async Task The_guest_runs_Linux()
    {
        await using var guest = await qemu.StartAsync("hello");

        var result = await guest.ExecAsync("uname -s");

        result.ExitCode.Should().Be(0);
        result.Output.Should().Be("Linux");
    }

    [Fact]
    public async Task Commands_report_their_exit_codes()
    {
        await using var guest = await qemu.StartAsync("hello");

        (await guest.ExecAsync("true")).ExitCode.Should().Be(0);
        (await guest.ExecAsync("false")).ExitCode.Should().Be(1);
        (await guest.ExecAsync("sh -c 'exit 7'")).ExitCode.Should().Be(7);
    }

    [Fact]
    public async Task Files_written_before_a_checkpoint_are_there_after_it()
    {
        await using var guest = await qemu.StartAsync("hello");

        await guest.ExecAsync("echo 'hello from the guest' > /tmp/greeting");
        var checkpoint = await guest.CheckpointAsync("greeting-written");
        var result = await guest.ExecAsync("cat /tmp/greeting");

        checkpoint.Should().NotBeNull("test runs are recorded, so checkpoints are taken");
        result.Output.Should().Be("hello from the guest");
    }

    [Fact]
    public async Task Every_test_starts_from_the_same_ready_state()
    {
        await using var guest = await qemu.StartAsync("hello");

        // Another test wrote /tmp/greeting; this machine is a fresh copy of the ready state.
        var result = await guest.ExecAsync("test -e /tmp/greeting");

        result.ExitCode.Should().Be(1);
    }

    /// <summary>
    /// Reads the guest's clock. With HELLOGUEST_FAIL_ON_RUN=n it fails on run n of "qemutestkit hunt" (or on every
    /// run when no hunt counts runs and n is 1): the failure message carries a value only that recorded execution
    /// has, which a replay through dotnet test reproduces.
    /// </summary>
    [Fact]
    public async Task The_guest_clock_runs()
    {
        await using var guest = await qemu.StartAsync("hello");

        var uptime = (await guest.ExecAsync("cut -d' ' -f1 /proc/uptime")).Output;
        await guest.CheckpointAsync("clock-read");

        uptime.Should().MatchRegex(@"^\d+\.\d\d$");
        if (SampleSwitches.FailThisRun)
        {
            uptime.Should().Be("a moment that never comes", "HELLOGUEST_FAIL_ON_RUN asks this run to fail");
        }
    }

    /// <summary>
    /// A guest-side race: a background worker that sleeps for a time the guest's clock picks, and a look at its
    /// result. Without HELLOGUEST_FLAKY=1 the test waits for the worker and always passes; with it, the test looks
    /// right away and fails whenever the worker is slower than one console round trip: honestly flaky.
    /// </summary>
    [Fact]
    public async Task The_worker_finishes_before_we_look()
    {
        await using var guest = await qemu.StartAsync("hello");

        await guest.ExecAsync("rm -f /tmp/worker.done");
        await guest.CheckpointAsync("before-race");
        await guest.ExecAsync("t=$(cut -d' ' -f1 /proc/uptime); d=${t#*.}; d=${d#0}; (usleep $((d * 3000)); echo done > /tmp/worker.done) &");
        if (!SampleSwitches.Flaky)
        {
            await guest.ExecAsync("wait");
        }

        var result = await guest.ExecAsync("cat /tmp/worker.done 2>/dev/null || echo missing");

        result.Output.Should().Be("done", "the worker should have finished before we looked");
    }
}
