using Docker.DotNet.Models;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using Microsoft.Extensions.Logging.Abstractions;

namespace QemuTestKit.Containers;

/// <summary>
/// Builds a container that runs one QEMU (the Testcontainers module pattern). QEMU serves QMP and its serial ports on
/// TCP inside the container; the ports are published on 127.0.0.1 only, on random host ports. The container is
/// labelled as ours with this process as owner, so <see cref="ContainerSweeper"/> can remove it after a crash.
/// </summary>
public sealed class QemuBuilder : ContainerBuilder<QemuBuilder, QemuContainer, QemuConfiguration>
{
    public const string DefaultImage = QemuTestKit.Machines.Runtime.MachineHosts.DefaultImage;

    public QemuBuilder() : this(DefaultImage)
    {
    }

    public QemuBuilder(string image) : this(new QemuConfiguration())
    {
        DockerResourceConfiguration = Init().WithImage(image).DockerResourceConfiguration;
    }

    private QemuBuilder(QemuConfiguration configuration) : base(configuration) => DockerResourceConfiguration = configuration;

    protected override QemuConfiguration DockerResourceConfiguration { get; }

    /// <summary>
    /// QEMU's argument array (the binary is the image's <c>qemu-system-x86_64</c>) and how many serial ports it serves on
    /// TCP: they are published, and the container counts as started once QMP answers.
    /// </summary>
    /// <param name="gdbHostPort">Publish the gdb stub (<see cref="QemuPorts.Gdb"/>) on this port of the host's 127.0.0.1 (0 for any free one); null for none.</param>
    public QemuBuilder WithQemu(IReadOnlyList<string> arguments, int serialPorts, string binary = "qemu-system-x86_64", int? gdbHostPort = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var builder = Merge(DockerResourceConfiguration, new QemuConfiguration(serialPorts, gdb: gdbHostPort is not null))
            .WithEntrypoint(binary)
            .WithCommand(arguments.ToArray());
        var ports = new[] { QemuPorts.Qmp }.Concat(Enumerable.Range(QemuPorts.FirstSerial, serialPorts))
            .Concat(gdbHostPort is null ? [] : [QemuPorts.Gdb]).ToArray();
        foreach (var port in ports)
        {
            builder = builder.WithExposedPort(port);
        }

        // Published on 127.0.0.1 only (a random host port each): a guest's console and QMP are never exposed beyond the host.
        return builder.WithCreateParameterModifier(parameters =>
        {
            parameters.HostConfig ??= new HostConfig();
            parameters.HostConfig.Sysctls = new Dictionary<string, string> { [TcpEndpoints.SendBuffers.Key] = TcpEndpoints.SendBuffers.Value };
            parameters.HostConfig.PortBindings = ports.ToDictionary(
                p => $"{p}/tcp",
                IList<PortBinding> (p) => [new PortBinding
                {
                    HostIP = "127.0.0.1",
                    HostPort = p == QemuPorts.Gdb && gdbHostPort is > 0 ? gdbHostPort.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) : string.Empty,
                }]);
        });
    }

    /// <summary>Copies a host file into the container before it starts (works with remote engines, unlike bind mounts).</summary>
    public QemuBuilder WithFile(string hostPath, string containerPath) =>
        WithResourceMapping(new FileInfo(hostPath), new FileInfo(containerPath));

    public override QemuContainer Build()
    {
        Validate();
        return new QemuContainer(DockerResourceConfiguration);
    }

    protected override QemuBuilder Init() => base.Init()
        .WithWorkingDirectory(QemuPorts.RunDirectory)
        .WithLabel(ContainerSweeper.ManagedLabel, "true")
        .WithLabel(ContainerSweeper.OwnerLabel, ContainerSweeper.ThisOwner)
        // Ryuk cannot run here (its image cannot be pulled); our own labels and sweep remove what a crash leaves.
        .WithCleanUp(false)
        .WithAutoRemove(false)
        .WithImagePullPolicy(_ => false)
        // Testcontainers logs to stdout by default: that would land in the middle of a CLI's output (and its --json
        // document) and of every test's; what goes wrong is reported by our own errors instead.
        .WithLogger(NullLogger.Instance);

    protected override QemuBuilder Clone(IResourceConfiguration<CreateContainerParameters> resourceConfiguration) =>
        Merge(DockerResourceConfiguration, new QemuConfiguration(resourceConfiguration));

    protected override QemuBuilder Clone(IContainerConfiguration resourceConfiguration) =>
        Merge(DockerResourceConfiguration, new QemuConfiguration(resourceConfiguration));

    protected override QemuBuilder Merge(QemuConfiguration oldValue, QemuConfiguration newValue) =>
        new(new QemuConfiguration(oldValue, newValue));
}
