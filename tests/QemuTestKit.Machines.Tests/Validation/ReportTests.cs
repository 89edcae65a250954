using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;
using C = QemuTestKit.Machines.Validation.MachineSpecErrorCodes;

namespace QemuTestKit.Machines.Tests.Validation;

[Collection(RealQemuValidation.Name)]
public sealed class ReportTests(ValidationFixture fixture)
{
    [Fact]
    public void A_valid_spec_yields_no_errors()
    {
        MachineSpecValidator.Validate(fixture.ValidSpec, fixture.Catalog).Should().BeEmpty();
    }

    [Fact]
    public void A_valid_spec_yields_no_errors_with_a_full_context()
    {
        var context = new ValidationContext { DeviceTree = fixture.Q35Tree, HostMemoryMiB = 24 * 1024, KvmUsable = false, Recording = true };

        MachineSpecValidator.Validate(fixture.ValidSpec, fixture.Catalog, context).Should().BeEmpty();
    }

    [Fact]
    public void A_spec_with_ten_different_mistakes_yields_ten_coded_errors_in_one_report()
    {
        var spec = fixture.ValidSpec with
        {
            Name = "hello world",
            MachineType = "q53",
            Cpu = "Skylake-Clent",
            MemoryMiB = -1,
            Kernel = fixture.Missing("vmlinuz"),
            Disks = [new DiskSpec(fixture.DiskImage, "vmdk")],
            Nics = [new NicSpec("virtio-net-pcie")],
            Devices = [new DeviceSpec("virtio-rng-pci", new Dictionary<string, string> { ["max-byte"] = "1024" })],
            Ready = new ReadyCondition("login: ("),
            SerialConsoles = 9,
        };

        var errors = MachineSpecValidator.Validate(spec, fixture.Catalog);

        errors.Select(e => (e.Code, e.Field)).Should().BeEquivalentTo(new[]
        {
            (C.InvalidName, "Name"),
            (C.UnknownMachineType, "MachineType"),
            (C.UnknownCpuModel, "Cpu"),
            (C.MemoryOutOfRange, "MemoryMiB"),
            (C.FileNotFound, "Kernel"),
            (C.UnsupportedDiskFormat, "Disks[0].Format"),
            (C.UnknownDeviceType, "Nics[0].Model"),
            (C.UnknownDeviceProperty, "Devices[0].Properties.max-byte"),
            (C.InvalidReadyPattern, "Ready.Pattern"),
            (C.SerialConsolesOutOfRange, "SerialConsoles"),
        });
    }

    [Fact]
    public void EnsureValid_throws_one_exception_that_lists_every_problem()
    {
        var spec = fixture.ValidSpec with { MachineType = "pc-q99", MemoryMiB = 0, SerialConsoles = 5 };

        var act = () => MachineSpecValidator.EnsureValid(spec, fixture.Catalog);

        var thrown = act.Should().Throw<MachineSpecValidationException>().Which;
        thrown.Errors.Select(e => e.Code).Should().Equal(C.UnknownMachineType, C.MemoryOutOfRange, C.SerialConsolesOutOfRange);
        thrown.Message.Should().StartWith("machine 'hello' cannot be used: 3 problems");
        foreach (var error in thrown.Errors)
        {
            thrown.Message.Should().Contain($"{error.Code} error: {error.Message}");
        }
    }

    [Fact]
    public void EnsureValid_returns_warnings_without_throwing()
    {
        var spec = fixture.ValidSpec with { MachineType = "pc-i440fx-1.4" };

        var warnings = MachineSpecValidator.EnsureValid(spec, fixture.Catalog);

        warnings.Should().ContainSingle().Which.Severity.Should().Be(MachineSpecSeverity.Warning);
        warnings[0].Suggestions.Should().Equal("pc-i440fx-7.2", "pc");
    }

    [Fact]
    public void Files_are_checked_through_the_context_when_it_says_how()
    {
        var seen = new List<string>();
        var context = new ValidationContext { FileExists = path => { seen.Add(path); return path.EndsWith("vmlinuz", StringComparison.Ordinal); } };

        var errors = MachineSpecValidator.Validate(fixture.ValidSpec, fixture.Catalog, context);

        seen.Should().Equal(fixture.Kernel, fixture.Initrd);
        errors.Should().ContainSingle().Which.Field.Should().Be("Initrd");
    }

    [Fact]
    public void A_spec_read_from_json_that_leaves_lists_out_is_judged_without_crashing()
    {
        var spec = MachineSpecJson.Deserialize("""{"name":"tiny","machineType":"q35","memoryMiB":128,"smp":1}""", "tiny.json");

        var act = () => MachineSpecValidator.Validate(spec, fixture.Catalog);

        act.Should().NotThrow().Which.Should().BeEmpty();
    }

    [Fact]
    public void A_bare_firmware_name_is_left_to_qemu_to_find_in_its_data_directories()
    {
        MachineSpecValidator.Validate(fixture.ValidSpec with { Firmware = "bios-256k.bin" }, fixture.Catalog).Should().BeEmpty();
    }

    [Fact]
    public void Kvm_is_accepted_when_nobody_knows_whether_it_works_and_nothing_is_recorded()
    {
        MachineSpecValidator.Validate(fixture.ValidSpec with { Accelerator = Accelerator.Kvm }, fixture.Catalog).Should().BeEmpty();
    }
}
