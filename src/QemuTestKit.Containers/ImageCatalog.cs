using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Containers;

/// <summary>
/// What the QEMU in an image supports. The image records its binary's sha256 when it is built; when this host has the
/// very same build (both come from Debian's packages), the host's catalog describes the image's QEMU exactly and is
/// used. Otherwise (QEMU 10 in a Debian 13 image next to the host's 7.2) the image's QEMU is asked in a container of
/// the image, once: the catalog is cached by that sha256 (<see cref="IdentityOf"/>).
/// </summary>
internal static class ImageCatalog
{
    public const string ImageBinary = "/usr/bin/qemu-system-x86_64";

    public static async Task<QemuCatalog> GetAsync(Uri endpoint, ImageFacts image, CancellationToken cancellationToken)
    {
        if (image.QemuSha256 is null)
        {
            throw new QemuContainerException(
                $"the image {image.Name} does not say which QEMU build it holds (label org.qemutestkit.qemu.sha256): build it with eng/docker/build-image.sh or eng/docker/Dockerfile");
        }

        var cache = new CatalogCache();
        if (await HostBuildAsync(cancellationToken: cancellationToken).ConfigureAwait(false) is { } host && string.Equals(host.Sha256, image.QemuSha256, StringComparison.OrdinalIgnoreCase))
        {
            var hostCatalog = await cache.GetAsync(host.Path, cancellationToken).ConfigureAwait(false);
            cache.RememberImage(new ImageCatalogEntry(image.Name, image.Id, host.Path, null));
            return hostCatalog;
        }

        var identity = IdentityOf(image.QemuSha256);
        try
        {
            var catalog = await cache.GetAsync(identity, ct => new QemuIntrospector().IntrospectAsync(ImageBinary, identity,
                $"'{ImageBinary}' in image {image.Name}", probe => ImageProbeSession.StartAsync(endpoint, image, probe), ct), cancellationToken).ConfigureAwait(false);
            cache.RememberImage(new ImageCatalogEntry(image.Name, image.Id, null, identity.Path));
            return catalog;
        }
        catch (QemuProbeException e)
        {
            throw new QemuContainerException($"what the QEMU of image {image.Name} supports could not be read: {e.Message}", e);
        }
    }

    /// <summary>
    /// The identity of an image's QEMU build: its binary and sha256 (not a file of this host). Ready states and catalogs
    /// made by that build carry it, so they match in every image that holds the same build.
    /// </summary>
    public static BinaryIdentity IdentityOf(string sha256) => CatalogCache.RemoteIdentity($"{ImageBinary}@sha256:{sha256.ToLowerInvariant()}");

    /// <summary>True when <paramref name="catalog"/> describes this host's own binary (not one only an image holds).</summary>
    public static bool IsHostCatalog(QemuCatalog catalog) => catalog.BinaryIdentity.Inode != 0;

    /// <summary>The build a bundle recorded in <paramref name="image"/> names: version and package from the catalog, binary and sha256 from the image.</summary>
    public static QemuBuild BuildOf(ImageFacts image, QemuCatalog catalog) =>
        new(catalog.QemuVersion, catalog.QemuPackage, ImageBinary, image.QemuSha256!, $"{image.Name}@{image.Id}");

    /// <summary>
    /// This host's qemu-system-x86_64 and its sha256, or null when there is none. Asked on every container start and
    /// replay: the hash is cached per file identity (<see cref="FileHashCache"/>), not computed each time.
    /// </summary>
    public static async Task<(string Path, string Sha256)?> HostBuildAsync(string binary = "qemu-system-x86_64", CancellationToken cancellationToken = default)
    {
        try
        {
            var path = QemuBinary.Resolve(binary).Path;
            return (path, (await FileHashCache.Sha256Async(path, cancellationToken: cancellationToken).ConfigureAwait(false)).ToLowerInvariant());
        }
        catch (Exception e) when (e is QemuTestKitException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
