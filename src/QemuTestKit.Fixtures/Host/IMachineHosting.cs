using QemuTestKit.Machines.Manifest;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Fixtures.Host;

/// <summary>
/// Where the fixtures run a machine whose manifest entry names a host other than <c>local</c>. Each such host comes in
/// its own small package (<c>QemuTestKit.Fixtures.Containers</c> for <c>Host="container"</c>) that names its
/// implementation with <see cref="MachineHostingAttribute"/>, so a project that runs machines locally pulls none of
/// that host's dependencies (no Docker client).
/// </summary>
public interface IMachineHosting
{
    /// <summary>
    /// What runs <paramref name="machine"/>'s QEMU where its manifest entry says: the fixtures prepare its ready state and
    /// start it through <see cref="ReadyState"/> and <see cref="QemuMachine"/> with it, as they do a local machine.
    /// </summary>
    IQemuLauncher LauncherFor(ManifestMachine machine);
}

/// <summary>Names the <see cref="IMachineHosting"/> (with a public parameterless constructor) an assembly provides for <see cref="Host"/>.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class MachineHostingAttribute(string host, Type hosting) : Attribute
{
    /// <summary>The <c>Host</c> metadata value it serves, for example <c>container</c>.</summary>
    public string Host { get; } = host;

    public Type Hosting { get; } = hosting;
}
