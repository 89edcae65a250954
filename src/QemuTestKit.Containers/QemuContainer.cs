using DotNet.Testcontainers.Containers;

namespace QemuTestKit.Containers;

/// <summary>A container running one QEMU; <see cref="ContainerLaunch"/> turns it into a <c>QemuMachine</c>.</summary>
public sealed class QemuContainer : DockerContainer
{
    private readonly QemuConfiguration _configuration;

    public QemuContainer(QemuConfiguration configuration) : base(configuration) => _configuration = configuration;

    public int SerialPorts => _configuration.SerialPorts;

    /// <summary>The host port (on 127.0.0.1 of the engine's host) where QMP answers.</summary>
    public int QmpPort => GetMappedPublicPort(QemuPorts.Qmp);

    /// <summary>The host port of serial port <paramref name="index"/>.</summary>
    public int SerialPort(int index) => GetMappedPublicPort(QemuPorts.FirstSerial + index);

    /// <summary>The host port of the gdb stub, or null when the container serves none.</summary>
    public int? GdbPort => _configuration.Gdb ? GetMappedPublicPort(QemuPorts.Gdb) : null;
}

/// <summary>A container-backed machine could not start or run; the message says what is wrong and what to do.</summary>
public sealed class QemuContainerException : QemuTestKit.Introspection.QemuTestKitException
{
    public QemuContainerException(string message, Exception? inner = null) : base(message, inner) { }
}
