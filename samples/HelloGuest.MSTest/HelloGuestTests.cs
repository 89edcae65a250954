using System.Globalization;
using QemuTestKit.Fixtures.MSTest;

[assembly: Parallelize(Scope = ExecutionScope.MethodLevel)]

namespace HelloGuest.MSTest;

/// <summary>
/// The MSTest twin of HelloGuest.Xunit: each test gets a fresh "hello" machine from the build's ready snapshot,
/// recorded; a failing test keeps its recording as a bundle attached to the result (AddResultFile).
/// </summary>
[TestClass]
public sealed class HelloGuestTests : QemuTestClass
{
    [TestMethod]
    public async Task The_guest_runs_Linux()
    {
        await using var guest = await StartAsync("hello");

        var result = await guest.ExecAsync("uname -s");

        Assert.AreEqual(0, result.ExitCode);
        Assert.AreEqual("Linux", result.Output);
    }

    [TestMethod]
    public async Task Commands_report_their_exit_codes()
    {
        await using var guest = await StartAsync("hello");

        Assert.AreEqual(0, (await guest.ExecAsync("true")).ExitCode);
        Assert.AreEqual(1, (await guest.ExecAsync("false")).ExitCode);
        Assert.AreEqual(7, (await guest.ExecAsync("sh -c 'exit 7'")).ExitCode);
    }

    [TestMethod]
    public async Task Files_written_before_a_checkpoint_are_there_after_it()
    {
        await using var guest = await StartAsync("hello");

        await guest.ExecAsync("echo 'hello from the guest' > /tmp/greeting");
        var checkpoint = await guest.CheckpointAsync("greeting-written");
        var result = await guest.ExecAsync("cat /tmp/greeting");

        Assert.IsNotNull(checkpoint, "test runs are recorded, so checkpoints are taken");
        Assert.AreEqual("hello from the guest", result.Output);
    }

    /// <summary>With HELLOGUEST_FAIL_ON_RUN=n it fails on run n of "qemutestkit hunt" (n=1 outside a hunt), quoting the guest's clock.</summary>
    [TestMethod]
    public async Task The_guest_clock_runs()
    {
        await using var guest = await StartAsync("hello");

        var uptime = (await guest.ExecAsync("cut -d' ' -f1 /proc/uptime")).Output;
        await guest.CheckpointAsync("clock-read");

        Assert.MatchesRegex(@"^\d+\.\d\d$", uptime);
        if (FailThisRun)
        {
            Assert.AreEqual("a moment that never comes", uptime, "HELLOGUEST_FAIL_ON_RUN asks this run to fail");
        }
    }

    /// <summary>The guest-side race of the xunit sample: flaky only with HELLOGUEST_FLAKY=1.</summary>
    [TestMethod]
    public async Task The_worker_finishes_before_we_look()
    {
        await using var guest = await StartAsync("hello");

        await guest.ExecAsync("rm -f /tmp/worker.done");
        await guest.CheckpointAsync("before-race");
        await guest.ExecAsync("t=$(cut -d' ' -f1 /proc/uptime); d=${t#*.}; d=${d#0}; (usleep $((d * 3000)); echo done > /tmp/worker.done) &");
        if (Environment.GetEnvironmentVariable("HELLOGUEST_FLAKY") != "1")
        {
            await guest.ExecAsync("wait");
        }

        var result = await guest.ExecAsync("cat /tmp/worker.done 2>/dev/null || echo missing");

        Assert.AreEqual("done", result.Output, "the worker should have finished before we looked");
    }

    private static bool FailThisRun =>
        int.TryParse(Environment.GetEnvironmentVariable("HELLOGUEST_FAIL_ON_RUN"), NumberStyles.None, CultureInfo.InvariantCulture, out var failOn)
        && failOn == (int.TryParse(Environment.GetEnvironmentVariable("QEMUTESTKIT_HUNT_RUN"), NumberStyles.None, CultureInfo.InvariantCulture, out var run) ? run : 1);
}
