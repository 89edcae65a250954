using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Tests.CommandLine;

/// <summary>Pins the exact argument arrays: a change here changes the hardware a recorded run replays on.</summary>
public sealed class CommandLineGoldenTests(X86CatalogFixture fixture) : IClassFixture<X86CatalogFixture>
{
    private static readonly MachineRunFiles Files = new("/run/qtk/m/qmp.sock", ["/run/qtk/m/serial0"], "/run/qtk/m/state.qcow2", [])
    {
        ReplayLog = "/run/qtk/m/replay.bin",
    };

    private static readonly MachineSpec Diskless = new()
    {
        Name = "hello",
        MachineType = "q35",
        Cpu = "max",
        MemoryMiB = 256,
        Kernel = "/g/vmlinuz",
        Initrd = "/g/initramfs.cpio.gz",
        Append = "console=ttyS0 quiet panic=-1",
        Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["max-bytes"] = "1024", ["period"] = "1000" })],
    };

    private static readonly MachineSpec WithDiskAndNic = Diskless with
    {
        Name = "web",
        Disks = [new DiskSpec("/images/base, v2.qcow2", "qcow2")],
        Nics = [new NicSpec("e1000", [new HostForward("tcp", 2222, 22)])],
        Devices = [],
    };

    private static readonly MachineRunFiles DiskFiles = Files with { DiskImages = ["/run/qtk/m/disk0,overlay.qcow2"] };

    [Fact]
    public void A_start_from_a_ready_state_with_a_memory_file_maps_it_private_and_loads_the_snapshot_after_starting_paused()
    {
        var files = Files with { ReplayLog = null, MemoryFile = "/states/hello, v2/ram" };

        var args = QemuCommandLine.Build(Diskless with { Devices = [] }, fixture.Catalog, files, new CommandLineOptions { LoadSnapshot = "ready", DeviceTree = fixture.Q35 });

        args.Should().Equal(
            "-name", "guest=hello",
            "-machine", "type=q35,memory-backend=qtk-ram",
            "-accel", "tcg",
            "-cpu", "max",
            "-m", "256M",
            "-object", "memory-backend-file,id=qtk-ram,size=256M,mem-path=/states/hello,, v2/ram,share=off",
            "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-qmp", "unix:/run/qtk/m/qmp.sock,server=on,wait=off",
            "-chardev", "pipe,id=serial0,path=/run/qtk/m/serial0",
            "-serial", "chardev:serial0",
            "-kernel", "/g/vmlinuz",
            "-initrd", "/g/initramfs.cpio.gz",
            "-append", "console=ttyS0 quiet panic=-1",
            "-drive", "if=none,id=qtk-state,node-name=qtk-state-fmt,format=qcow2,cache=unsafe,file=/run/qtk/m/state.qcow2",
            "-S");
        files.LoadsSnapshotAfterStart("ready").Should().BeTrue();
    }

    [Fact]
    public void Preparing_a_ready_state_with_a_memory_file_writes_the_guests_ram_through_to_it()
    {
        var files = Files with { ReplayLog = null, MemoryFile = "/run/qtk/m/ram", MemoryFileShared = true };

        var args = QemuCommandLine.Build(Diskless with { Devices = [] }, fixture.Catalog, files, new CommandLineOptions { DeviceTree = fixture.Q35 });

        args.Should().ContainInOrder("-object", "memory-backend-file,id=qtk-ram,size=256M,mem-path=/run/qtk/m/ram,share=on")
            .And.NotContain("-S").And.NotContain("-loadvm");
        files.LoadsSnapshotAfterStart(null).Should().BeFalse();
        (files with { MemoryFile = null }).LoadsSnapshotAfterStart("ready").Should().BeFalse("without a memory file the snapshot holds the RAM: -loadvm");
    }

    [Fact]
    public void A_diskless_machine_in_normal_mode()
    {
        var args = QemuCommandLine.Build(Diskless, fixture.Catalog, Files, new CommandLineOptions { LoadSnapshot = "ready", DeviceTree = fixture.Q35 });

        args.Should().Equal(
            "-name", "guest=hello",
            "-machine", "type=q35",
            "-accel", "tcg",
            "-cpu", "max",
            "-m", "256M",
            "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-qmp", "unix:/run/qtk/m/qmp.sock,server=on,wait=off",
            "-chardev", "pipe,id=serial0,path=/run/qtk/m/serial0",
            "-serial", "chardev:serial0",
            "-kernel", "/g/vmlinuz",
            "-initrd", "/g/initramfs.cpio.gz",
            "-append", "console=ttyS0 quiet panic=-1",
            "-drive", "if=none,id=qtk-state,node-name=qtk-state-fmt,format=qcow2,cache=unsafe,file=/run/qtk/m/state.qcow2",
            "-device", "virtio-rng-pci,id=virtio-rng-pci-0,max-bytes=1024,period=1000,bus=pcie.0,addr=0x02",
            "-loadvm", "ready");
    }

    [Fact]
    public void A_machine_with_a_disk_and_a_nic_in_record_mode()
    {
        var args = QemuCommandLine.Build(WithDiskAndNic, fixture.Catalog, DiskFiles, new CommandLineOptions { Mode = RunMode.Record, LoadSnapshot = "ready", DeviceTree = fixture.Q35 });

        args.SkipWhile(a => a != "-drive").Should().Equal(
            "-drive", "if=none,id=qtk-state,node-name=qtk-state-fmt,format=qcow2,cache=unsafe,file=/run/qtk/m/state.qcow2",
            "-drive", "if=none,id=disk0-image,node-name=disk0-fmt,format=qcow2,cache=unsafe,file=/run/qtk/m/disk0,,overlay.qcow2",
            "-drive", "if=none,driver=blkreplay,image=disk0-image,id=disk0",
            "-device", "virtio-blk-pci,drive=disk0,id=disk0-dev,bus=pcie.0,addr=0x02,ioeventfd=off",
            "-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22",
            "-object", "filter-replay,id=net0-replay,netdev=net0",
            "-device", $"e1000,netdev=net0,id=net0-dev,mac={QemuCommandLine.StableMac("web", 0)},bus=pcie.0,addr=0x03",
            "-global", "apic-common.vapic=off",
            "-icount", "shift=5,rr=record,rrfile=/run/qtk/m/replay.bin",
            "-loadvm", "ready");
    }

    [Fact]
    public void Record_and_replay_arrays_differ_only_in_the_rr_mode()
    {
        var record = QemuCommandLine.Build(WithDiskAndNic, fixture.Catalog, DiskFiles, new CommandLineOptions { Mode = RunMode.Record });
        var replay = QemuCommandLine.Build(WithDiskAndNic, fixture.Catalog, DiskFiles, new CommandLineOptions { Mode = RunMode.Replay });

        record.Should().HaveSameCount(replay);
        var differences = record.Zip(replay).Where(p => p.First != p.Second).ToArray();
        differences.Should().ContainSingle().Which.Should().Be(
            ("shift=5,rr=record,rrfile=/run/qtk/m/replay.bin", "shift=5,rr=replay,rrfile=/run/qtk/m/replay.bin"));
    }

    [Fact]
    public void The_same_spec_always_yields_the_same_array()
    {
        var first = QemuCommandLine.Build(WithDiskAndNic, fixture.Catalog, DiskFiles);
        var second = QemuCommandLine.Build(WithDiskAndNic with { }, fixture.Catalog, DiskFiles);
        second.Should().Equal(first);
    }

    [Fact]
    public void A_comma_in_a_path_cannot_inject_an_option()
    {
        var hostile = Files with { StateImage = "/tmp/x,readonly=on,file=/etc/passwd.qcow2" };
        var args = QemuCommandLine.Build(Diskless, fixture.Catalog, hostile);

        args.Should().Contain("if=none,id=qtk-state,node-name=qtk-state-fmt,format=qcow2,cache=unsafe,file=/tmp/x,,readonly=on,,file=/etc/passwd.qcow2");
    }

    [Fact]
    public void A_read_only_disk_reads_its_base_in_place()
    {
        var spec = WithDiskAndNic with { Disks = [new DiskSpec("/images/base.raw", "raw", "virtio-blk-pci", ReadOnly: true)], Nics = [] };
        var args = QemuCommandLine.Build(spec, fixture.Catalog, Files with { DiskImages = ["/images/base.raw"] });

        args.Should().Contain("if=none,id=disk0,node-name=disk0-fmt,format=raw,file=/images/base.raw,readonly=on");
    }

    [Fact]
    public void Recorded_x86_machines_go_without_kvmvapic_and_normal_runs_keep_it()
    {
        // kvmvapic deadlocks QEMU 7.2 when a replay loads a snapshot while running (reverse steps, replay-seek).
        string[] noVapic = ["-global", "apic-common.vapic=off"];

        QemuCommandLine.Build(Diskless, fixture.Catalog, Files, new CommandLineOptions { Mode = RunMode.Record }).Should().ContainInConsecutiveOrder(noVapic);
        QemuCommandLine.Build(Diskless, fixture.Catalog, Files, new CommandLineOptions { Mode = RunMode.Replay }).Should().ContainInConsecutiveOrder(noVapic);
        QemuCommandLine.Build(Diskless, fixture.Catalog, Files).Should().NotContain("apic-common.vapic=off");
        var chosen = Diskless with { ExtraArguments = ["-global", "apic-common.vapic=on"] };
        QemuCommandLine.Build(chosen, fixture.Catalog, Files, new CommandLineOptions { Mode = RunMode.Record }).Should().NotContain("apic-common.vapic=off",
            "a spec that sets it itself keeps its choice");
    }

    [Fact]
    public void A_serial_port_path_ending_in_sock_is_the_socket_of_an_older_bundle_and_a_comma_stays_in_the_path()
    {
        var args = QemuCommandLine.Build(Diskless, fixture.Catalog, Files with { SerialPorts = ["/run/qtk/m/serial0.sock", "/run/a,b/serial1"] },
            new CommandLineOptions { DeviceTree = fixture.Q35 });

        args.Should().ContainInOrder("-chardev", "socket,id=serial0,path=/run/qtk/m/serial0.sock,server=off", "-serial", "chardev:serial0")
            .And.ContainInOrder("-chardev", "pipe,id=serial1,path=/run/a,,b/serial1", "-serial", "chardev:serial1");
    }

    [Fact]
    public void Record_mode_needs_a_replay_log()
    {
        var act = () => QemuCommandLine.Build(Diskless, fixture.Catalog, Files with { ReplayLog = null }, new CommandLineOptions { Mode = RunMode.Record });
        act.Should().Throw<ArgumentException>().WithMessage("*ReplayLog*");
    }
}

/// <summary>The real catalog of qemu-system-x86_64 and the tree of its q35 machine, through a private cache.</summary>
public sealed class X86CatalogFixture : IAsyncLifetime
{
    private readonly string _cacheDir = Directory.CreateTempSubdirectory("qtk-catalog-").FullName;

    public QemuCatalog Catalog { get; private set; } = null!;

    public MachineDeviceTree Q35 { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Catalog = await new CatalogCache(_cacheDir).GetAsync("qemu-system-x86_64", TestContext.Current.CancellationToken);
        Q35 = await new DeviceTreeCache(_cacheDir).GetAsync(Catalog, "q35", TestContext.Current.CancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_cacheDir, recursive: true);
        return ValueTask.CompletedTask;
    }
}
