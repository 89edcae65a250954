using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>Bus checks against the device trees QEMU really builds for q35 (PCIe) and isapc (no PCI at all).</summary>
[Collection(RealQemuValidation.Name)]
public sealed class BusTests(ValidationFixture fixture)
{
    private ValidationContext Q35 => new() { DeviceTree = fixture.Q35Tree };

    private ValidationContext Isapc => new() { DeviceTree = fixture.IsapcTree };

    private static Dictionary<string, string> Bus(string bus) => new() { ["bus"] = bus };

    [Fact]
    public void A_device_on_the_q35_root_bus_by_name_is_fine()
    {
        var spec = fixture.ValidSpec with { Devices = [new DeviceSpec("virtio-rng-pci", Bus("pcie.0"))] };

        MachineSpecValidator.Validate(spec, fixture.Catalog, Q35).Should().BeEmpty();
    }

    [Fact]
    public void A_device_on_the_i440fx_bus_name_of_a_q35_machine_is_an_error_that_suggests_pcie_0()
    {
        var spec = fixture.ValidSpec with { Devices = [new DeviceSpec("virtio-rng-pci", Bus("pci.0"))] };

        var error = MachineSpecValidator.Validate(spec, fixture.Catalog, Q35).Should().ContainSingle().Subject;

        error.Code.Should().Be(MachineSpecErrorCodes.BusNotOnMachine);
        error.Found.Should().Be("pci.0");
        error.Suggestions.Should().Contain("pcie.0");
        error.Message.Should().Contain("is not a bus of machine type 'q35'");
    }

    [Fact]
    public void A_device_on_a_bus_that_another_device_of_the_spec_provides_is_fine()
    {
        var spec = fixture.ValidSpec with
        {
            Devices =
            [
                new DeviceSpec("pcie-root-port", new Dictionary<string, string> { ["chassis"] = "1" }, "rp1"),
                new DeviceSpec("virtio-rng-pci", Bus("rp1")),
            ],
        };

        MachineSpecValidator.Validate(spec, fixture.Catalog, Q35).Should().BeEmpty();
    }

    [Fact]
    public void The_isapc_tree_has_no_pci_bus()
    {
        fixture.IsapcTree.AllBuses().Select(b => b.Type).Should().NotContain(["PCI", "PCIE"]);
        fixture.Q35Tree.AllBuses().Select(b => b.Type).Should().Contain("PCIE");
    }

    [Fact]
    public void Pci_devices_in_every_part_of_the_spec_are_errors_on_isapc_and_isa_ones_are_not()
    {
        var spec = fixture.ValidSpec with
        {
            MachineType = "isapc",
            Cpu = null,
            Disks = [new DiskSpec(fixture.DiskImage)],
            Nics = [new NicSpec("e1000"), new NicSpec("ne2k_isa")],
            ExtraArguments = ["-device", "e1000,id=nic9", "-device", "isa-serial,id=com2"],
        };

        var errors = MachineSpecValidator.Validate(spec, fixture.Catalog, Isapc);

        errors.Select(e => (e.Code, e.Field)).Should().BeEquivalentTo(new[]
        {
            (MachineSpecErrorCodes.BusNotOnMachine, "Disks[0].Interface"),
            (MachineSpecErrorCodes.BusNotOnMachine, "Nics[0].Model"),
            (MachineSpecErrorCodes.BusNotOnMachine, "Devices[0].Type"),
            (MachineSpecErrorCodes.BusNotOnMachine, "ExtraArguments[1]"),
        });
        errors[0].Message.Should().Contain("'virtio-blk-pci' needs a PCI bus (PCI), but machine type 'isapc' has none (its buses: ");
    }

    [Fact]
    public void More_pci_devices_than_free_slots_on_pcie_0_is_an_error_on_the_first_that_does_not_fit()
    {
        // q35 leaves slots 2 to 0x1e (29) for added devices; the spec's NIC and first device take two of them.
        var spec = fixture.ValidSpec with { Devices = [.. fixture.ValidSpec.Devices, .. Enumerable.Range(0, 28).Select(_ => new DeviceSpec("virtio-rng-pci"))] };

        var error = MachineSpecValidator.Validate(spec, fixture.Catalog, Q35).Should().ContainSingle().Subject;

        error.Code.Should().Be(MachineSpecErrorCodes.NoRoomOnBus);
        error.Field.Should().Be("Devices[28].Type");
        error.Message.Should().Contain("is PCI device number 30 of the spec, but bus 'pcie.0' of machine type 'q35' has 29 free slots");
    }

    [Fact]
    public void Ide_disks_past_the_built_in_ports_are_fine_when_the_spec_declares_an_ide_controller()
    {
        var spec = fixture.ValidSpec with
        {
            Disks = Enumerable.Range(0, 7).Select(_ => new DiskSpec(fixture.DiskImage, Interface: "ide-hd")).ToArray(),
            Devices = [new DeviceSpec("ich9-ahci")],
        };

        MachineSpecValidator.Validate(spec, fixture.Catalog, Q35 with { ControllerBuses = new Dictionary<string, IReadOnlyList<string>> { ["ich9-ahci"] = ["IDE"] } })
            .Should().BeEmpty();
    }

    [Fact]
    public void Without_a_device_tree_bus_checks_are_skipped()
    {
        var spec = fixture.ValidSpec with { MachineType = "isapc", Cpu = null, Devices = [new DeviceSpec("virtio-rng-pci", Bus("nowhere.0"))] };

        MachineSpecValidator.Validate(spec, fixture.Catalog).Where(e => e.Code == MachineSpecErrorCodes.BusNotOnMachine).Should().BeEmpty();
    }
}
