using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// Where a machine's QEMU will run, before it starts: which QEMU build that is, how QEMU is launched there, and which
/// ready state it can load. <see cref="QemuMachine.StartAsync"/> and <see cref="ReadyState"/> (prepare and start) are
/// written once over it; <see cref="LocalQemuLauncher"/> runs QEMU as a child process of this one, and
/// QemuTestKit.Containers' <c>ContainerQemuLauncher</c> in a container of an image. Chosen with
/// <see cref="MachineStartOptions.Launcher"/>. Once QEMU runs, <see cref="IQemuHost"/> is what differs.
/// </summary>
public interface IQemuLauncher
{
    /// <summary>Where QEMU runs, for messages ("on this host", "in image qemutestkit/qemu:10").</summary>
    string Where { get; }

    /// <summary>
    /// The catalog of the QEMU build that will run <paramref name="spec"/>, once that build is known to run it (a coded
    /// error otherwise). <paramref name="recording"/>: the run records, so the build must also replay what it records.
    /// </summary>
    Task<QemuCatalog> CatalogAsync(MachineSpec spec, MachineStartOptions options, bool recording, CancellationToken cancellationToken);

    /// <summary>
    /// Starts QEMU for <paramref name="spec"/> as <paramref name="options"/> say (their <see cref="MachineStartOptions.Catalog"/>
    /// is <see cref="CatalogAsync"/>'s): from private copies of the state image and overlays given, loading the snapshot given.
    /// </summary>
    /// <exception cref="MachineStartException">QEMU did not start, or did not open its sockets in time.</exception>
    Task<QemuMachine> LaunchAsync(MachineSpec spec, MachineStartOptions options, CancellationToken cancellationToken);

    /// <summary>
    /// A ready state this launcher's QEMU can load for a run in <paramref name="options"/>' mode: <paramref name="ready"/>
    /// itself, or one it made from the same spec (a container prepares one in its image when the host's build differs).
    /// </summary>
    /// <exception cref="ReadyStateMismatchException">The state cannot be used and this launcher makes none.</exception>
    Task<ReadyState> UsableReadyStateAsync(MachineSpec spec, ReadyState ready, MachineStartOptions options, CancellationToken cancellationToken);
}
