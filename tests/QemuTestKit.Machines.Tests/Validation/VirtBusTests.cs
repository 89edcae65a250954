using QemuTestKit.Machines.Tests.Support;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>
/// Devices whose bus kind the ARM and RISC-V <c>virt</c> machines lack (IDE, USB, ISA, I2C) are caught at validation,
/// judged by the trees those machines really build, instead of failing when QEMU starts.
/// </summary>
[Collection(RealVirtMachines.Name)]
public sealed class VirtBusTests(VirtBusFixture fixture)
{
    private static MachineSpec Virt(string architecture) => new()
    {
        Name = "board",
        Architecture = architecture,
        MachineType = "virt",
        MemoryMiB = 256,
        Ready = new ReadyCondition("^READY$", 60),
    };

    private static ValidationContext Context(MachineDeviceTree tree, IReadOnlyDictionary<string, IReadOnlyList<string>>? controllers = null) =>
        new() { DeviceTree = tree, ControllerBuses = controllers, FileExists = _ => true };

    private IReadOnlyList<MachineSpecError> Aarch64(MachineSpec spec, IReadOnlyDictionary<string, IReadOnlyList<string>>? controllers = null) =>
        MachineSpecValidator.Validate(spec, fixture.Aarch64Catalog, Context(fixture.Aarch64Virt, controllers));

    [Fact]
    public void The_virt_trees_have_pcie_and_virtio_mmio_but_no_ide_usb_or_isa_bus()
    {
        foreach (var tree in new[] { fixture.Aarch64Virt, fixture.Riscv64Virt })
        {
            var types = tree.AllBuses().Select(b => b.Type).ToArray();
            types.Should().Contain(["PCIE", "virtio-mmio-bus"]);
            types.Should().NotContain(["IDE", "usb-bus", "ISA"]);
        }
    }

    [Fact]
    public void An_ide_disk_on_aarch64_virt_is_an_error_that_lists_its_buses_and_offers_virtio_blk()
    {
        var spec = Virt("aarch64") with { Disks = [new DiskSpec("/images/root.qcow2", "qcow2", "ide-hd")] };

        var error = Aarch64(spec).Should().ContainSingle().Subject;

        error.Code.Should().Be(MachineSpecErrorCodes.BusNotOnMachine);
        error.Field.Should().Be("Disks[0].Interface");
        error.Message.Should().Contain("'ide-hd' needs an IDE bus (IDE), but machine type 'virt' has none (its buses: ")
            .And.Contain("pcie.0").And.Contain("virtio-mmio-bus.0-31").And.Contain("use Interface=virtio-blk-pci");
    }

    [Fact]
    public void A_usb_tablet_without_a_controller_on_aarch64_virt_is_an_error_that_suggests_qemu_xhci()
    {
        var spec = Virt("aarch64") with { Devices = [new DeviceSpec("usb-tablet")] };

        var error = Aarch64(spec).Should().ContainSingle().Subject;

        error.Code.Should().Be(MachineSpecErrorCodes.BusNotOnMachine);
        error.Field.Should().Be("Devices[0].Type");
        error.Message.Should().Be("machine 'board': Devices[0].Type 'usb-tablet' needs a USB bus (usb-bus), but machine type 'virt' has none " +
            "(its buses: sysbus, virtio-mmio-bus.0-31, pcie.0) (add a device that brings one, such as a QemuDevice with Type=qemu-xhci, " +
            "or pick a device type for one of its buses: 'qemutestkit introspect --qemu qemu-system-aarch64 --machine virt' shows them)");
    }

    [Fact]
    public void A_usb_tablet_with_a_declared_qemu_xhci_passes()
    {
        fixture.XhciBuses.Should().Contain("usb-bus");
        var spec = Virt("aarch64") with { Devices = [new DeviceSpec("qemu-xhci"), new DeviceSpec("usb-tablet")] };

        Aarch64(spec, new Dictionary<string, IReadOnlyList<string>> { ["qemu-xhci"] = fixture.XhciBuses }).Should().BeEmpty();
    }

    [Fact]
    public void A_declared_device_that_brings_no_usb_bus_does_not_excuse_a_usb_tablet()
    {
        var spec = Virt("aarch64") with { Devices = [new DeviceSpec("virtio-rng-pci"), new DeviceSpec("usb-tablet")] };

        Aarch64(spec, new Dictionary<string, IReadOnlyList<string>> { ["virtio-rng-pci"] = [] })
            .Select(e => (e.Code, e.Field)).Should().Equal((MachineSpecErrorCodes.BusNotOnMachine, "Devices[1].Type"));
    }

    [Fact]
    public void Isa_devices_are_unknown_to_qemu_system_aarch64_and_draw_one_error_each_not_two()
    {
        // qemu-system-aarch64 7.2 has no ISA device at all, so the type check answers before the bus check could.
        var spec = Virt("aarch64") with
        {
            Devices = [new DeviceSpec("isa-serial")],
            ExtraArguments = ["-device", "isa-debugcon,iobase=0x402"],
        };

        Aarch64(spec).Select(e => (e.Code, e.Field)).Should().Equal(
            (MachineSpecErrorCodes.UnknownDeviceType, "Devices[0].Type"),
            (MachineSpecErrorCodes.UnknownDeviceType, "ExtraArguments[1]"));
    }

    [Fact]
    public void An_i2c_device_on_aarch64_virt_is_an_error()
    {
        fixture.Aarch64Catalog.FindDevice("tmp105").Should().NotBeNull("qemu-system-aarch64 has the tmp105 I2C sensor");
        var spec = Virt("aarch64") with { Devices = [new DeviceSpec("tmp105")] };

        var error = Aarch64(spec).Should().ContainSingle().Subject;

        error.Field.Should().Be("Devices[0].Type");
        error.Message.Should().Contain("needs an I2C bus (i2c-bus), but machine type 'virt' has none");
    }

    [Fact]
    public void An_ide_disk_on_riscv64_virt_is_an_error()
    {
        var spec = Virt("riscv64") with { Disks = [new DiskSpec("/images/root.qcow2", "qcow2", "ide-hd")] };

        var errors = MachineSpecValidator.Validate(spec, fixture.Riscv64Catalog, Context(fixture.Riscv64Virt)).WithoutReplayLimits();

        errors.Select(e => (e.Code, e.Field)).Should().Equal((MachineSpecErrorCodes.BusNotOnMachine, "Disks[0].Interface"));
        errors[0].Message.Should().Contain("needs an IDE bus (IDE), but machine type 'virt' has none").And.Contain("pcie.0");
    }

    [Fact]
    public void Pci_devices_and_virtio_blk_disks_on_aarch64_virt_pass()
    {
        var spec = Virt("aarch64") with
        {
            Disks = [new DiskSpec("/images/root.qcow2", "qcow2")],
            Nics = [new NicSpec("e1000")],
            Devices = [new DeviceSpec("virtio-rng-pci")],
        };

        Aarch64(spec).Should().BeEmpty();
    }

    [Fact]
    public void The_build_asks_qemu_about_the_other_device_types_only_when_a_bus_kind_is_missing()
    {
        var lacking = Virt("aarch64") with { Devices = [new DeviceSpec("qemu-xhci"), new DeviceSpec("usb-tablet"), new DeviceSpec("virtio-rng-pci")] };
        var fine = Virt("aarch64") with { Devices = [new DeviceSpec("qemu-xhci"), new DeviceSpec("virtio-rng-pci")] };

        MachineSpecValidator.ControllerCandidates(lacking, fixture.Aarch64Catalog, fixture.Aarch64Virt).Should().Equal("qemu-xhci", "virtio-rng-pci");
        MachineSpecValidator.ControllerCandidates(fine, fixture.Aarch64Catalog, fixture.Aarch64Virt).Should().BeEmpty();
    }
}
