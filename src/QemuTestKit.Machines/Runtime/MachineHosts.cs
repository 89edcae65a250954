namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// Where a machine's QEMU runs, as a <c>QemuMachine</c> item's <c>Host</c> metadata and the manifest name it: the
/// build, the fixtures and the container hosting all read these.
/// </summary>
public static class MachineHosts
{
    /// <summary>QEMU as a process of this host.</summary>
    public const string Local = "local";

    /// <summary>QEMU in a container of an image, on a Docker engine.</summary>
    public const string Container = "container";

    /// <summary>The image of a <c>Host="container"</c> machine that names none: what <c>./build.sh setup</c> builds.</summary>
    public const string DefaultImage = "qemutestkit/qemu:local";
}
