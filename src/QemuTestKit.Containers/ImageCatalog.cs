using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Replay;

namespace QemuTestKit.Containers;

/// <summary>
/// What the QEMU in an image supports. The image records its binary's sha256 when it is built; when this host has the
/// very same build (the usual case: both come from Debian's packages), the host's catalog describes the image's QEMU
/// exactly and is used. Otherwise it cannot be introspected from here yet: one clear error says so.
/// </summary>
internal static class ImageCatalog
{
    public const string ImageBinary = "/usr/bin/qemu-system-x86_64";

    public static async Task<QemuCatalog> GetAsync(ImageFacts image, CancellationToken cancellationToken)
    {
        var host = HostBuild();
        if (image.QemuSha256 is null)
        {
            throw new QemuContainerException(
                $"the image {image.Name} does not say which QEMU build it holds (label org.qemutestkit.qemu.sha256): build it with eng/docker/build-image.sh or eng/docker/Dockerfile");
        }

        if (host is null || !string.Equals(host.Value.Sha256, image.QemuSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new QemuContainerException(
                $"the image {image.Name} holds QEMU {image.QemuPackage} (sha256 {image.QemuSha256[..12]}...), and this host has {(host is null ? "no qemu-system-x86_64" : $"a different build at {host.Value.Path}")}: " +
                $"machines in containers are validated against the same build on the host for now; install the image's package version on the host ({QemuPackages.InstallHint(ImageBinary)})");
        }

        return await new CatalogCache().GetAsync(host.Value.Path, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The build a bundle recorded in <paramref name="image"/> names: version and package from the catalog, binary and sha256 from the image.</summary>
    public static BundleQemu BuildOf(ImageFacts image, QemuCatalog catalog) =>
        new(catalog.QemuVersion, catalog.QemuPackage, ImageBinary, image.QemuSha256!, $"{image.Name}@{image.Id}");

    /// <summary>This host's qemu-system-x86_64 and its sha256, or null when there is none.</summary>
    public static (string Path, string Sha256)? HostBuild(string binary = "qemu-system-x86_64")
    {
        try
        {
            var path = QemuBinary.Resolve(binary).Path;
            using var stream = File.OpenRead(path);
            return (path, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(stream)).ToLowerInvariant());
        }
        catch (Exception e) when (e is QemuTestKitException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
