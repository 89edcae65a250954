using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>Host port 0 means any free port: it is valid, and several of them are no clash.</summary>
[Collection(RealQemuValidation.Name)]
public sealed class HostForwardTests(ValidationFixture fixture)
{
    private IReadOnlyList<MachineSpecError> Validate(params HostForward[] forwards) =>
        MachineSpecValidator.Validate(fixture.ValidSpec with { Nics = [new NicSpec("e1000", forwards)] }, fixture.Catalog);

    [Fact]
    public void Several_forwards_from_host_port_0_pass_and_a_fixed_port_twice_does_not()
    {
        Validate(new HostForward("tcp", 0, 22), new HostForward("tcp", 0, 80)).Should().BeEmpty();

        Validate(new HostForward("tcp", 2222, 22), new HostForward("tcp", 2222, 80)).Should().ContainSingle()
            .Which.Code.Should().Be(MachineSpecErrorCodes.DuplicateHostPort);
        Validate(new HostForward("tcp", 0, 0)).Should().ContainSingle()
            .Which.Code.Should().Be(MachineSpecErrorCodes.InvalidHostForward);
    }
}
