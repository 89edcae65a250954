using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Tests.CommandLine;

/// <summary>
/// Automatic placement reads the machine's real tree: the root PCI bus and its free slots, and the IDE buses of the
/// built-in controller, on pc (i440fx/PIIX), q35 (ICH9 AHCI) and aarch64 virt (no IDE at all).
/// </summary>
public sealed class BusPlacementTests(PlacementFixture fixture) : IClassFixture<PlacementFixture>
{
    private static readonly MachineSpec ThreeIdeDisks = new()
    {
        Name = "ide",
        MachineType = "pc",
        Disks = [new DiskSpec("/i/a.qcow2", "qcow2", "ide-hd"), new DiskSpec("/i/b.qcow2", "qcow2", "ide-hd"), new DiskSpec("/i/c.qcow2", "qcow2", "ide-cd")],
        Nics = [new NicSpec("e1000")],
    };

    private static readonly MachineRunFiles Files = new("/r/qmp.sock", ["/r/serial0.sock"], "/r/state.qcow2", ["/r/a.qcow2", "/r/b.qcow2", "/r/c.qcow2"]);

    private static string[] Devices(IReadOnlyList<string> args) =>
        args.Zip(args.Skip(1)).Where(p => p.First == "-device").Select(p => p.Second).ToArray();

    [Fact]
    public void On_pc_ide_disks_fill_the_piix_channels_master_then_slave_and_pci_devices_start_after_the_vga_slot()
    {
        var args = QemuCommandLine.Build(ThreeIdeDisks, fixture.X86, Files, new CommandLineOptions { DeviceTree = fixture.Pc });

        Devices(args).Should().Equal(
            "ide-hd,drive=disk0,id=disk0-dev,bus=ide.0,unit=0",
            "ide-hd,drive=disk1,id=disk1-dev,bus=ide.0,unit=1",
            "ide-cd,drive=disk2,id=disk2-dev,bus=ide.1,unit=0",
            $"e1000,netdev=net0,id=net0-dev,mac={QemuCommandLine.StableMac("ide", 0)},bus=pci.0,addr=0x03");
    }

    [Fact]
    public void On_q35_ide_disks_take_one_ahci_port_each_and_pci_devices_go_on_pcie_0_from_slot_2()
    {
        var args = QemuCommandLine.Build(ThreeIdeDisks with { MachineType = "q35" }, fixture.X86, Files, new CommandLineOptions { DeviceTree = fixture.Q35 });

        Devices(args).Should().Equal(
            "ide-hd,drive=disk0,id=disk0-dev,bus=ide.0",
            "ide-hd,drive=disk1,id=disk1-dev,bus=ide.1",
            "ide-cd,drive=disk2,id=disk2-dev,bus=ide.2",
            $"e1000,netdev=net0,id=net0-dev,mac={QemuCommandLine.StableMac("ide", 0)},bus=pcie.0,addr=0x02");
    }

    [Fact]
    public void On_aarch64_virt_pci_devices_go_on_pcie_0_from_slot_1()
    {
        var spec = new MachineSpec
        {
            Name = "arm",
            Architecture = "aarch64",
            MachineType = "virt",
            Disks = [new DiskSpec("/i/a.qcow2", "qcow2")],
            Devices = [new DeviceSpec("virtio-rng-pci")],
        };

        var args = QemuCommandLine.Build(spec, fixture.Aarch64, Files with { DiskImages = ["/r/a.qcow2"] }, new CommandLineOptions { DeviceTree = fixture.Virt });

        Devices(args).Should().Equal(
            "virtio-blk-pci,drive=disk0,id=disk0-dev,bus=pcie.0,addr=0x01,ioeventfd=off",
            "virtio-rng-pci,id=virtio-rng-pci-0,bus=pcie.0,addr=0x02");
    }

    [Fact]
    public void An_ide_disk_on_a_machine_without_ide_buses_is_left_to_the_controller_the_spec_declares()
    {
        var spec = new MachineSpec
        {
            Name = "arm",
            Architecture = "aarch64",
            MachineType = "virt",
            Disks = [new DiskSpec("/i/a.qcow2", "qcow2", "ide-hd")],
            Devices = [new DeviceSpec("ich9-ahci", Id: "ahci")],
        };

        var args = QemuCommandLine.Build(spec, fixture.Aarch64, Files with { DiskImages = ["/r/a.qcow2"] }, new CommandLineOptions { DeviceTree = fixture.Virt });

        Devices(args).Should().Equal("ide-hd,drive=disk0,id=disk0-dev", "ich9-ahci,id=ahci,bus=pcie.0,addr=0x01");
    }

    /// <summary>
    /// The PL031 reads the host clock as it loads from a snapshot, which in record mode are replay log events after the
    /// log position the snapshot keeps: replays from the ready snapshot then stalled or read garbage.
    /// </summary>
    [Theory]
    [InlineData(RunMode.Record, true)]
    [InlineData(RunMode.Replay, true)]
    [InlineData(RunMode.Normal, false)]
    public void A_recorded_machine_with_a_pl031_keeps_its_rtc_on_the_virtual_clock(RunMode mode, bool onVirtualClock)
    {
        var spec = new MachineSpec { Name = "arm", Architecture = "aarch64", MachineType = "virt" };

        var files = Files with { DiskImages = [], ReplayLog = "/r/replay.bin" };

        var args = QemuCommandLine.Build(spec, fixture.Aarch64, files, new CommandLineOptions { DeviceTree = fixture.Virt, Mode = mode });
        var x86 = QemuCommandLine.Build(spec with { Architecture = "x86_64", MachineType = "q35" }, fixture.X86, files, new CommandLineOptions { DeviceTree = fixture.Q35, Mode = mode });

        string.Join(' ', args).Contains("-rtc clock=vm", StringComparison.Ordinal).Should().Be(onVirtualClock, string.Join(' ', args));
        x86.Should().NotContain("-rtc", "x86's RTC is not a PL031");
    }

    [Fact]
    public void Without_a_tree_qemu_places_the_devices()
    {
        var args = QemuCommandLine.Build(ThreeIdeDisks, fixture.X86, Files);

        Devices(args).Should().OnlyContain(d => !d.Contains("bus=", StringComparison.Ordinal) && !d.Contains("addr=", StringComparison.Ordinal));
    }
}

/// <summary>The real catalogs of qemu-system-x86_64 and qemu-system-aarch64 and the trees of pc, q35 and virt, through a private cache.</summary>
public sealed class PlacementFixture : IAsyncLifetime
{
    private readonly string _cacheDir = Directory.CreateTempSubdirectory("qtk-placement-").FullName;

    public QemuCatalog X86 { get; private set; } = null!;

    public QemuCatalog Aarch64 { get; private set; } = null!;

    public MachineDeviceTree Pc { get; private set; } = null!;

    public MachineDeviceTree Q35 { get; private set; } = null!;

    public MachineDeviceTree Virt { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        if (QemuTestKit.Introspection.Processes.ExecutableSearch.Find("qemu-system-aarch64") is null)
        {
            throw new InvalidOperationException("qemu-system-aarch64 is not installed: install Debian's qemu-system-arm (apt-get install -y qemu-system-arm)");
        }

        var catalogs = new CatalogCache(_cacheDir);
        var trees = new DeviceTreeCache(_cacheDir);
        X86 = await catalogs.GetAsync("qemu-system-x86_64", ct);
        Aarch64 = await catalogs.GetAsync("qemu-system-aarch64", ct);
        Pc = await trees.GetAsync(X86, "pc", ct);
        Q35 = await trees.GetAsync(X86, "q35", ct);
        Virt = await trees.GetAsync(Aarch64, "virt", ct);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_cacheDir, recursive: true);
        return ValueTask.CompletedTask;
    }
}
