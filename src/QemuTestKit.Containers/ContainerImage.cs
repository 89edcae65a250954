namespace QemuTestKit.Containers;

/// <summary>
/// Where a machine's container runs: the image with QEMU in it and the Docker engine. Everything else about the start
/// is a local start's <c>MachineStartOptions</c> (one record for both).
/// </summary>
/// <param name="Name">The image; the default is what <c>./build.sh setup</c> builds (QEMU 7.2).</param>
/// <param name="DockerEndpoint">The engine: null for <c>DOCKER_HOST</c>, else the local socket.</param>
public sealed record ContainerImage(string Name = QemuBuilder.DefaultImage, Uri? DockerEndpoint = null)
{
    /// <summary>The image a manifest entry names, or the default one when it names none.</summary>
    public static ContainerImage Named(string? name, Uri? dockerEndpoint = null) =>
        new(string.IsNullOrEmpty(name) ? QemuBuilder.DefaultImage : name, dockerEndpoint);
}
