using QemuTestKit.Containers;
using QemuTestKit.Fixtures.Containers;
using QemuTestKit.Fixtures.Host;
using QemuTestKit.Machines.Manifest;
using QemuTestKit.Machines.Runtime;

[assembly: MachineHosting(MachineHosts.Container, typeof(ContainerMachineHosting))]

namespace QemuTestKit.Fixtures.Containers;

/// <summary>
/// <c>Host="container"</c> for the fixtures: the machine runs in its manifest entry's image (the default image when it
/// names none) on the engine <c>DOCKER_HOST</c> names, else the local one. Found by the fixtures through the assembly
/// attribute above the first time such a machine starts; nothing to call.
/// </summary>
public sealed class ContainerMachineHosting : IMachineHosting
{
    public IQemuLauncher LauncherFor(ManifestMachine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        return new ContainerQemuLauncher(ContainerImage.Named(machine.Image));
    }
}
