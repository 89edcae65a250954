using System.Globalization;
using QemuTestKit.Fixtures.MSTest;

namespace QemuTestKit.Fixtures.MSTest.Scenarios;

/// <summary>
/// Tests that misbehave on purpose, selected one by one with --filter by QemuTestKit.Fixtures.MSTest.Tests.
/// QTK_PID_FILE: each machine's QEMU pid is appended there. QTK_CHECK_FILE: after the class's tests, whether those
/// QEMU processes were still running.
/// </summary>
[TestClass]
public sealed class Scenarios : QemuTestClass
{
    private static readonly List<int> Pids = [];

    [TestMethod]
    public async Task Passes()
    {
        await using var guest = await StartAsync("hello");
        Watch(guest);
        Assert.AreEqual("hi", (await guest.ExecAsync("echo hi")).Output);
    }

    [TestMethod]
    public async Task Fails_after_a_checkpoint()
    {
        await using var guest = await StartAsync("hello");
        Watch(guest);
        var uptime = (await guest.ExecAsync("cut -d' ' -f1 /proc/uptime")).Output;
        await guest.CheckpointAsync("uptime-read");
        Assert.AreEqual("a moment that never comes", uptime);
    }

    [TestMethod]
    public async Task Forgets_to_dispose_and_passes()
    {
        var guest = await StartAsync("hello");
        Watch(guest);
        Assert.AreEqual(0, (await guest.ExecAsync("true")).ExitCode);
    }

    [TestMethod]
    public async Task Forgets_to_dispose_and_fails()
    {
        var guest = await StartAsync("hello");
        Watch(guest);
        await guest.ExecAsync("echo forgotten");
        Assert.Fail("failing with a machine nobody disposed");
    }

    [ClassCleanup]
    public static void CheckPids()
    {
        if (Environment.GetEnvironmentVariable("QTK_CHECK_FILE") is { Length: > 0 } file)
        {
            int[] pids;
            lock (Pids)
            {
                pids = [.. Pids];
            }

            var alive = pids.Where(p => File.Exists($"/proc/{p}/cmdline") && File.ReadAllText($"/proc/{p}/cmdline").Contains("qemu", StringComparison.Ordinal));
            File.WriteAllText(file, "alive after the tests: " + string.Join(",", alive) + "\n");
        }
    }

    private static void Watch(GuestMachine guest)
    {
        lock (Pids)
        {
            Pids.Add(guest.Machine.ProcessId);
        }

        if (Environment.GetEnvironmentVariable("QTK_PID_FILE") is { Length: > 0 } file)
        {
            File.AppendAllText(file, guest.Machine.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        }
    }
}
