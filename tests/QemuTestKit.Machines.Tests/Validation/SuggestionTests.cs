using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Validation;

[Collection(RealQemuValidation.Name)]
public sealed class SuggestionTests(ValidationFixture fixture)
{
    [Fact]
    public void A_swapped_machine_alias_suggests_the_alias()
    {
        var error = MachineSpecValidator.Validate(fixture.ValidSpec with { MachineType = "q53" }, fixture.Catalog).Should().ContainSingle().Subject;

        error.Suggestions.Should().Contain("q35");
        error.Message.Should().Contain("did you mean").And.Contain("'q35'");
    }

    [Fact]
    public void An_unknown_machine_message_names_machine_field_emulator_suggestions_and_how_to_list_them()
    {
        var error = MachineSpecValidator.Validate(fixture.ValidSpec with { MachineType = "pc-q99" }, fixture.Catalog).Single();

        error.Message.Should().Be(
            $"machine 'hello': MachineType 'pc-q99' is not a machine of qemu-system-x86_64 {fixture.Catalog.QemuVersion}; "
            + "did you mean 'pc-q35-7.2' or 'q35'? (run 'qemutestkit introspect --qemu qemu-system-x86_64' to list them)");
        error.Found.Should().Be("pc-q99");
        error.Allowed.Should().Contain("machine type");
    }

    [Fact]
    public void A_machine_version_the_binary_lacks_suggests_the_current_one_of_its_family()
    {
        var error = MachineSpecValidator.Validate(fixture.ValidSpec with { MachineType = "pc-q35-9.0" }, fixture.Catalog).Single();

        error.Suggestions.Should().Equal("pc-q35-7.2", "q35");
    }

    [Fact]
    public void A_misspelt_property_suggests_the_real_one()
    {
        var spec = fixture.ValidSpec with { Devices = [new DeviceSpec("e1000", new Dictionary<string, string> { ["netdve"] = "net9" })] };

        var error = MachineSpecValidator.Validate(spec, fixture.Catalog).Should().ContainSingle().Subject;

        error.Code.Should().Be(MachineSpecErrorCodes.UnknownDeviceProperty);
        error.Field.Should().Be("Devices[0].Properties.netdve");
        error.Suggestions.Should().Equal("netdev");
        error.Message.Should().Contain("did you mean 'netdev'?");
    }

    [Fact]
    public void A_far_off_name_gets_no_suggestion()
    {
        var error = MachineSpecValidator.Validate(fixture.ValidSpec with { MachineType = "frobnicator" }, fixture.Catalog).Single();

        error.Suggestions.Should().BeEmpty();
        error.Message.Should().NotContain("did you mean");
    }

    [Fact]
    public void A_nic_model_missing_its_suffix_suggests_network_devices_only()
    {
        var error = MachineSpecValidator.Validate(fixture.ValidSpec with { Nics = [new NicSpec("virtio-net")] }, fixture.Catalog).Single();

        error.Suggestions.Should().StartWith("virtio-net-pci").And.OnlyContain(s => fixture.Catalog.FindDevice(s)!.FindProperty("netdev") != null);
    }

    [Fact]
    public void A_misspelt_cpu_model_suggests_the_real_one()
    {
        var error = MachineSpecValidator.Validate(fixture.ValidSpec with { Cpu = "Skylake-Clent" }, fixture.Catalog).Single();

        error.Suggestions.Should().Contain("Skylake-Client");
    }
}
