using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Tests.Runtime;

public sealed class StateDriveIoTests(ReadyGuestFixture fixture) : IClassFixture<ReadyGuestFixture>
{
    private const string Qemu = "/usr/bin/qemu-system-x86_64";

    [Fact]
    public void Only_the_state_drive_gets_io_uring_and_only_where_qemu_and_the_kernel_allow_it()
    {
        string[] arguments =
        [
            "-drive", "if=none,id=disk0,format=qcow2,file=/r/disk0.overlay.qcow2",
            "-drive", $"if=none,id={QemuCommandLine.StateDriveId},node-name={QemuCommandLine.StateNodeName},format=qcow2,cache=unsafe,file=/r/state,,x.qcow2",
        ];

        var started = StateDriveIo.ForLocalStart(arguments, Qemu);

        started[1].Should().Be(arguments[1]);
        started[3].Should().Be(StateDriveIo.IoUringUsable(Qemu) ? arguments[3] + ",aio=io_uring" : arguments[3]);
        arguments[3].Should().NotContain("aio=", "the caller's array, the one a bundle records, is never changed");
    }

    [Fact]
    public void A_replay_under_a_gdb_stub_keeps_the_thread_pool()
    {
        string[] debugged = ["-drive", $"if=none,id={QemuCommandLine.StateDriveId},file=/r/state.qcow2", "-gdb", "unix:/r/gdb.sock,server=on,wait=off"];

        StateDriveIo.ForLocalStart(debugged, Qemu).Should().Equal(debugged);
    }

    [Fact]
    public void A_drive_that_names_its_own_aio_and_a_binary_without_liburing_keep_their_arguments()
    {
        string[] named = ["-drive", $"if=none,id={QemuCommandLine.StateDriveId},file=/r/state.qcow2,aio=threads"];
        string[] plain = ["-drive", $"if=none,id={QemuCommandLine.StateDriveId},file=/r/state.qcow2"];

        StateDriveIo.ForLocalStart(named, Qemu).Should().Equal(named);
        StateDriveIo.IoUringUsable("/bin/sh").Should().BeFalse("a program that does not link liburing cannot open a drive with aio=io_uring");
        StateDriveIo.ForLocalStart(plain, "/bin/sh").Should().Equal(plain);
    }

    [Fact]
    public async Task A_started_qemu_reads_its_state_through_io_uring_where_usable_and_the_machine_keeps_the_portable_arguments()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var machine = await fixture.Ready.StartAsync(fixture.Spec, fixture.Options, ct);

        var commandLine = (await File.ReadAllTextAsync($"/proc/{machine.ProcessId}/cmdline", ct)).Split('\0');

        commandLine.Should().Contain(a => a.Contains($"id={QemuCommandLine.StateDriveId},", StringComparison.Ordinal));
        commandLine.Any(a => a.Contains("aio=io_uring", StringComparison.Ordinal)).Should().Be(StateDriveIo.IoUringUsable(fixture.Catalog.Binary),
            "QEMU started from the ready state (its state drive's reads) uses io_uring exactly when this host and build allow it");
        machine.Arguments.Should().NotContain(a => a.Contains("aio=", StringComparison.Ordinal), "recorded arguments must replay where io_uring is refused");
        (await machine.ExecAsync("echo up", TimeSpan.FromSeconds(120), ct)).Output.Should().Be("up");
    }
}
