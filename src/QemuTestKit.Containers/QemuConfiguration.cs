using Docker.DotNet.Models;
using DotNet.Testcontainers.Configurations;

namespace QemuTestKit.Containers;

/// <summary>The configuration of a <see cref="QemuContainer"/>: a container configuration plus how many serial ports QEMU serves.</summary>
public sealed class QemuConfiguration : ContainerConfiguration
{
    public QemuConfiguration(int serialPorts = 0, bool gdb = false)
    {
        SerialPorts = serialPorts;
        Gdb = gdb;
    }

    public QemuConfiguration(IResourceConfiguration<CreateContainerParameters> resourceConfiguration) : base(resourceConfiguration)
    {
    }

    public QemuConfiguration(IContainerConfiguration resourceConfiguration) : base(resourceConfiguration)
    {
    }

    public QemuConfiguration(QemuConfiguration resourceConfiguration) : this(new QemuConfiguration(), resourceConfiguration)
    {
    }

    public QemuConfiguration(QemuConfiguration oldValue, QemuConfiguration newValue) : base(oldValue, newValue)
    {
        SerialPorts = newValue.SerialPorts != 0 ? newValue.SerialPorts : oldValue.SerialPorts;
        Gdb = newValue.Gdb || oldValue.Gdb;
    }

    /// <summary>How many serial ports QEMU serves on TCP (container ports <see cref="QemuPorts.FirstSerial"/> and up).</summary>
    public int SerialPorts { get; }

    /// <summary>QEMU serves a gdb stub on TCP (container port <see cref="QemuPorts.Gdb"/>).</summary>
    public bool Gdb { get; }
}

/// <summary>The container ports QEMU listens on (inside the container only; published on 127.0.0.1 of the engine's host).</summary>
public static class QemuPorts
{
    public const int Qmp = 4444;
    public const int FirstSerial = 5000;

    /// <summary>A replay's gdb stub (<c>-gdb</c>), when one is asked for.</summary>
    public const int Gdb = 1234;

    /// <summary>Where the run's files live inside the container.</summary>
    public const string RunDirectory = "/qtk/run";
}
