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
    /// <summary>Where <paramref name="machine"/> runs, for the test output ("in image qemutestkit/qemu:local").</summary>
    string Where(ManifestMachine machine);

    /// <summary>Boots <paramref name="machine"/> once where it runs and stores its ready state in <paramref name="directory"/>.</summary>
    /// <param name="options">The icount shift and run root to prepare with.</param>
    Task<ReadyState> PrepareAsync(ManifestMachine machine, string directory, MachineStartOptions options, CancellationToken cancellationToken);

    /// <summary>Starts <paramref name="machine"/> from <paramref name="ready"/>, or cold when it is null.</summary>
    Task<QemuMachine> StartAsync(ManifestMachine machine, ReadyState? ready, MachineStartOptions options, CancellationToken cancellationToken);
}

/// <summary>Names the <see cref="IMachineHosting"/> (with a public parameterless constructor) an assembly provides for <see cref="Host"/>.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class MachineHostingAttribute(string host, Type hosting) : Attribute
{
    /// <summary>The <c>Host</c> metadata value it serves, for example <c>container</c>.</summary>
    public string Host { get; } = host;

    public Type Hosting { get; } = hosting;
}
