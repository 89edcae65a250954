using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>-device options hidden in ExtraArguments are checked like declared devices, in both of QEMU's forms.</summary>
[Collection(RealQemuValidation.Name)]
public sealed class ExtraArgumentTests(ValidationFixture fixture)
{
    private IReadOnlyList<MachineSpecError> Validate(params string[] arguments) =>
        MachineSpecValidator.Validate(fixture.ValidSpec with { ExtraArguments = arguments }, fixture.Catalog);

    [Theory]
    [InlineData("-device", "virtio-rng-pci,max-bytes=1024,id=rng9")]
    [InlineData("-device", "driver=virtio-rng-pci,max-bytes=1024")]
    [InlineData("--device", "virtio-rng-pci,romfile=a,,b.rom")]
    [InlineData("-device", """{"driver":"virtio-rng-pci","id":"rng9","max-bytes":1024}""")]
    public void Valid_device_arguments_pass(string option, string value)
    {
        Validate("-no-reboot", option, value).Should().BeEmpty();
    }

    [Fact]
    public void A_bare_flag_counts_as_a_property_and_is_checked()
    {
        Validate("-device", "e1000,multifunction").Should().BeEmpty();
        Validate("-device", "e1000,multifunctoin").Should().ContainSingle()
            .Which.Field.Should().Be("ExtraArguments[1].multifunctoin");
    }

    [Fact]
    public void A_json_device_with_an_unknown_property_names_the_argument_and_the_key()
    {
        var error = Validate("-device", """{"driver":"virtio-rng-pci","max-bytess":"1"}""").Should().ContainSingle().Subject;

        error.Code.Should().Be(MachineSpecErrorCodes.UnknownDeviceProperty);
        error.Field.Should().Be("ExtraArguments[1].max-bytess");
        error.Suggestions.Should().Contain("max-bytes");
    }

    [Fact]
    public void Broken_json_is_a_malformed_device_argument()
    {
        Validate("-device", "{\"driver\":").Should().ContainSingle()
            .Which.Code.Should().Be(MachineSpecErrorCodes.MalformedDeviceArgument);
    }

    [Fact]
    public void Ids_in_device_arguments_take_part_in_the_duplicate_check()
    {
        var error = Validate("-device", "virtio-rng-pci,id=net0").Should().ContainSingle().Subject;

        error.Code.Should().Be(MachineSpecErrorCodes.DuplicateId);
        error.Field.Should().Be("ExtraArguments[1].id");
        error.Message.Should().Contain("is already the id of Nics[0].Id");
    }
}
