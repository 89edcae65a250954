namespace QemuTestKit.Machines.Runtime;

/// <summary>Which QEMU build ran a machine: a bundle names it, and a replay on a different build is refused.</summary>
/// <param name="Version">QEMU's version (query-version).</param>
/// <param name="Package">The distribution package string.</param>
/// <param name="Binary">The binary's path where the run was recorded.</param>
/// <param name="Sha256">The binary's sha256: a replay on a different build is refused.</param>
/// <param name="ContainerImage">The container image the run was recorded in, when it ran in one.</param>
public sealed record QemuBuild(string Version, string Package, string Binary, string Sha256, string? ContainerImage = null);
