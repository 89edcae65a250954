using System.Globalization;
using QemuTestKit.Fixtures.Xunit;

namespace QemuTestKit.Fixtures.Xunit.Scenarios;

/// <summary>
/// Tests that misbehave on purpose, selected one by one with --filter-method by QemuTestKit.Fixtures.Xunit.Tests.
/// QTK_PID_FILE: each machine's QEMU pid is appended there. QTK_CHECK_FILE: the class fixture writes, after the
/// last test of the class, whether those QEMU processes were still running then.
/// </summary>
public sealed class Scenarios(QemuFixture qemu, PidWatch watch) : IClassFixture<QemuFixture>, IClassFixture<PidWatch>
{
    [Fact]
    public async Task Passes()
    {
        await using var guest = await qemu.StartAsync("hello");
        watch.Add(guest);
        Assert.Equal("hi", (await guest.ExecAsync("echo hi")).Output);
    }

    [Fact]
    public async Task Fails_after_a_checkpoint()
    {
        await using var guest = await qemu.StartAsync("hello");
        watch.Add(guest);
        var uptime = (await guest.ExecAsync("cut -d' ' -f1 /proc/uptime")).Output;
        await guest.CheckpointAsync("uptime-read");
        Assert.Equal("a moment that never comes", uptime);
    }

    [Fact]
    public async Task Fails_after_a_long_command_between_checkpoints()
    {
        await using var guest = await qemu.StartAsync("hello");
        watch.Add(guest);
        // The shell is busy when the first command synchronizes with it, so the host resends its synchronization,
        // as it does whenever a loaded machine is slow to answer; how often depends on the host's clock.
        await guest.SendLineAsync("sleep 2");
        await guest.CheckpointAsync("before-loop");
        var loop = (await guest.ExecAsync("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i", TimeSpan.FromMinutes(3))).Output;
        await guest.CheckpointAsync("after-loop");
        var random = (await guest.ExecAsync("od -An -N4 -tu4 /dev/urandom")).Output.Trim();
        // Fails every time, with a message only the recorded execution can repeat (the random number), and a loop
        // count that shows whether each command got its own output.
        Assert.Fail($"loop {loop}, random {random}");
    }

    [Fact]
    public async Task Forgets_to_dispose_and_fails()
    {
        var guest = await qemu.StartAsync("hello");
        watch.Add(guest);
        await guest.ExecAsync("echo forgotten");
        Assert.Fail("failing with a machine nobody disposed");
    }

    [Fact]
    public async Task Forgets_to_dispose_and_passes()
    {
        var guest = await qemu.StartAsync("hello");
        watch.Add(guest);
        Assert.Equal(0, (await guest.ExecAsync("true")).ExitCode);
    }

    [Fact(Timeout = 8000)]
    public async Task Times_out()
    {
        await using var guest = await qemu.StartAsync("hello");
        watch.Add(guest);
        try
        {
            await guest.ExecAsync("sleep 120", TimeSpan.FromSeconds(180), TestContext.Current.CancellationToken);
        }
        finally
        {
            // Slow to unwind, as a test with cleanup can be: xunit ends the run long before this body (and so its
            // After hook) is done, and the host has to end the test itself.
            await Task.Delay(TimeSpan.FromSeconds(20), CancellationToken.None);
        }
    }

    [Fact]
    public async Task Sleeps()
    {
        await using var guest = await qemu.StartAsync("hello");
        watch.Add(guest);
        await guest.ExecAsync("sleep 300", TimeSpan.FromSeconds(400));
    }
}

/// <summary>Notes QEMU pids for the test that runs the scenario, and checks them after the class's last test.</summary>
public sealed class PidWatch : IDisposable
{
    private readonly List<int> _pids = [];

    public void Add(GuestMachine guest)
    {
        lock (_pids)
        {
            _pids.Add(guest.Machine.ProcessId);
        }

        if (Environment.GetEnvironmentVariable("QTK_PID_FILE") is { Length: > 0 } file)
        {
            File.AppendAllText(file, guest.Machine.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        }
    }

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("QTK_CHECK_FILE") is { Length: > 0 } file)
        {
            int[] pids;
            lock (_pids)
            {
                pids = [.. _pids];
            }

            var alive = pids.Where(p => File.Exists($"/proc/{p}/cmdline") && File.ReadAllText($"/proc/{p}/cmdline").Contains("qemu", StringComparison.Ordinal));
            File.WriteAllText(file, "alive after the tests: " + string.Join(",", alive) + "\n");
        }
    }
}

/// <summary>For qemutestkit hunt's test: fails on run QTK_FAIL_ON_RUN of a hunt (QEMUTESTKIT_HUNT_RUN), after a checkpoint.</summary>
public sealed class HuntTarget(QemuFixture qemu) : IClassFixture<QemuFixture>
{
    [Fact]
    public async Task Fails_on_the_chosen_run()
    {
        await using var guest = await qemu.StartAsync("hello");
        var uptime = (await guest.ExecAsync("cut -d' ' -f1 /proc/uptime")).Output;
        await guest.CheckpointAsync("uptime-read");
        var run = Environment.GetEnvironmentVariable("QEMUTESTKIT_HUNT_RUN");
        Assert.True(run is null || run != Environment.GetEnvironmentVariable("QTK_FAIL_ON_RUN"), $"run {run} fails on purpose (uptime {uptime})");
    }
}
