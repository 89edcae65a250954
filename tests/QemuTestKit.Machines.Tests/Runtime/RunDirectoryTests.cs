using System.Diagnostics;
using System.Globalization;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Runtime;

public sealed class RunDirectoryTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private readonly string _root = Path.Combine("/tmp", $"qtk-rd-{Guid.NewGuid():N}"[..15]);

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public void A_run_directory_is_private_short_and_names_its_owner()
    {
        using var run = RunDirectory.Create("my machine/with a long name", _root);

        File.GetUnixFileMode(run.Path).Should().Be(Private);
        File.GetUnixFileMode(_root).Should().Be(Private);
        Path.GetFileName(run.Path).Should().MatchRegex("^my_machine_w-[0-9a-f]{8}$");
        run.QmpSocket.Should().Be(Path.Combine(run.Path, "qmp.sock"));
        run.SerialSocket(1).Should().Be(Path.Combine(run.Path, "serial1.sock"));
        run.GdbSocket.Should().Be(Path.Combine(run.Path, "gdb.sock"));
        run.PidFile.Should().Be(Path.Combine(run.Path, "qemu.pid"));
        run.StderrLog.Should().Be(Path.Combine(run.Path, "stderr.log"));
        var owner = File.ReadAllText(run.OwnerFile).Split(' ', StringSplitOptions.TrimEntries);
        owner[0].Should().Be(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        long.Parse(owner[1], CultureInfo.InvariantCulture).Should().Be(RunDirectory.ProcessStartTime(Environment.ProcessId));
    }

    [Fact]
    public void Dispose_removes_the_directory()
    {
        var run = RunDirectory.Create("gone", _root);
        File.WriteAllText(run.File("state.qcow2"), "x");

        run.Dispose();

        Directory.Exists(run.Path).Should().BeFalse();
    }

    [Fact]
    public void The_default_root_is_private_to_this_user()
    {
        using var run = RunDirectory.Create("default");

        run.Root.Should().Be(RunDirectory.DefaultRoot);
        File.GetUnixFileMode(run.Root).Should().Be(Private);
        System.Text.Encoding.UTF8.GetByteCount(run.SerialSocket(0)).Should().BeLessThan(QemuTestKit.Machines.Console.UnixSocketPath.MaxBytes);
    }

    [Fact]
    public void A_root_so_long_that_socket_paths_would_not_fit_fails_clearly()
    {
        var root = Path.Combine(_root, new string('r', 90));

        var act = () => RunDirectory.Create("m", root);

        act.Should().Throw<RunDirectoryException>()
            .WithMessage("*serial0.sock*107*RunRoot*")
            .Which.Message.Should().Contain(root);
        Directory.Exists(root).Should().BeFalse();
    }

    [Fact]
    public void A_long_name_is_dropped_before_failing()
    {
        // 107 - len("/serial0.sock") - len("/12345678") leaves room for the root only.
        var root = Path.Combine(_root, new string('r', 107 - 13 - 9 - _root.Length - 1));

        using var run = RunDirectory.Create("machine", root);

        Path.GetFileName(run.Path).Should().MatchRegex("^[0-9a-f]{8}$");
        System.Text.Encoding.UTF8.GetByteCount(run.SerialSocket(0)).Should().Be(QemuTestKit.Machines.Console.UnixSocketPath.MaxBytes);
        run.Invoking(r => r.SerialSocket(10)).Should().Throw<RunDirectoryException>();
    }

    [Fact]
    public async Task SweepStale_removes_a_directory_whose_owner_died_and_keeps_one_whose_owner_lives()
    {
        using var alive = RunDirectory.Create("alive", _root);
        var dead = RunDirectory.Create("dead", _root);
        File.WriteAllText(dead.OwnerFile, $"{await DeadPidAsync()} 12345\n");
        var reused = RunDirectory.Create("reused", _root);
        File.WriteAllText(reused.OwnerFile, $"{Environment.ProcessId} 1\n");

        var removed = RunDirectory.SweepStale(_root);

        removed.Should().BeEquivalentTo(dead.Path, reused.Path);
        Directory.Exists(alive.Path).Should().BeTrue();
        Directory.Exists(dead.Path).Should().BeFalse();
        Directory.Exists(reused.Path).Should().BeFalse();
    }

    [Fact]
    public async Task SweepStale_kills_the_QEMU_of_a_dead_owner_but_not_an_unrelated_process()
    {
        var stale = RunDirectory.Create("stale", _root);
        var other = RunDirectory.Create("other", _root);
        using var qemu = Process.Start(new ProcessStartInfo(TestQemu.Binary,
            ["-machine", "none", "-nodefaults", "-display", "none", "-S", "-monitor", "none", "-pidfile", stale.PidFile])
        { RedirectStandardError = true, RedirectStandardOutput = true })!;
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", ["60"]))!;
        try
        {
            await WaitUntilAsync(() => File.Exists(stale.PidFile) && File.ReadAllText(stale.PidFile).Trim().Length > 0);
            File.ReadAllText(stale.PidFile).Trim().Should().Be(qemu.Id.ToString(CultureInfo.InvariantCulture));
            other.WritePid(sleeper.Id);
            var deadPid = await DeadPidAsync();
            File.WriteAllText(stale.OwnerFile, $"{deadPid} 1\n");
            File.WriteAllText(other.OwnerFile, $"{deadPid} 1\n");

            RunDirectory.SweepStale(_root).Should().BeEquivalentTo(stale.Path, other.Path);

            (await ExitsWithinAsync(qemu, TimeSpan.FromSeconds(10))).Should().BeTrue("the sweep kills the stale directory's QEMU");
            sleeper.HasExited.Should().BeFalse("a process whose command line does not mention qemu is never killed");
        }
        finally
        {
            if (!qemu.HasExited)
            {
                qemu.Kill();
            }

            sleeper.Kill();
        }
    }

    [Fact]
    public void SweepStale_of_a_missing_root_removes_nothing()
    {
        RunDirectory.SweepStale(Path.Combine(_root, "missing")).Should().BeEmpty();
    }

    private static async Task<int> DeadPidAsync()
    {
        using var process = Process.Start(new ProcessStartInfo("true"))!;
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return process.Id;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(30));
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    private static async Task<bool> ExitsWithinAsync(Process process, TimeSpan timeout)
    {
        try
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(timeout, TestContext.Current.CancellationToken);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }
}
