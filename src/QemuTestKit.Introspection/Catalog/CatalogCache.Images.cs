using System.Text.Json;

namespace QemuTestKit.Introspection.Catalog;

/// <summary>
/// Which catalog describes the QEMU of a container image, by the image's name: written when a run reads an image's
/// QEMU (which needs a Docker engine), read by the build (which has none), so the build checks a container machine
/// against its image's QEMU once any run on this machine has seen that image.
/// </summary>
/// <param name="Image">The image's name as machines give it (<c>qemutestkit/qemu:10</c>).</param>
/// <param name="ImageId">The image id it had then: a rebuilt image may hold another build until a run reads it again.</param>
/// <param name="HostBinary">The host's binary when the image holds the very same build; then the host's catalog is the image's.</param>
/// <param name="RemoteBinary">Otherwise the identity path of the image's build (<c>binary@sha256:...</c>), whose catalog is cached under it.</param>
public sealed record ImageCatalogEntry(string Image, string ImageId, string? HostBinary, string? RemoteBinary);

public sealed partial class CatalogCache
{
    /// <summary>Remembers which catalog describes <paramref name="entry"/>'s image (see <see cref="ImageCatalogEntry"/>).</summary>
    public void RememberImage(ImageCatalogEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var file = ImageFile(entry.Image);
        var temp = $"{file}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            File.WriteAllText(temp, JsonSerializer.Serialize(entry, CatalogJsonContext.Default.ImageCatalogEntry));
            File.Move(temp, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Costs the build its check against the image until a later run writes it: not correctness.
            _warn($"could not write {file}: {e.Message}");
            TryDelete(temp);
        }
    }

    /// <summary>
    /// The catalog of <paramref name="image"/>'s QEMU as a run last saw it, or null when no run on this machine has read
    /// that image yet (or its catalog is gone from the cache).
    /// </summary>
    public async Task<(QemuCatalog Catalog, ImageCatalogEntry Entry)?> TryGetImageCatalogAsync(string image, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(image);
        ImageCatalogEntry? entry;
        try
        {
            entry = JsonSerializer.Deserialize(await File.ReadAllTextAsync(ImageFile(image), cancellationToken).ConfigureAwait(false),
                CatalogJsonContext.Default.ImageCatalogEntry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }

        if (entry is null || entry.Image != image)
        {
            return null;
        }

        if (entry.HostBinary is { } host)
        {
            return (await GetAsync(host, cancellationToken).ConfigureAwait(false), entry);
        }

        if (entry.RemoteBinary is not { } remote)
        {
            return null;
        }

        var identity = RemoteIdentity(remote);
        return TryRead(RemoteFile(identity), binaryPath: null, () => identity) is { } catalog ? (catalog, entry) : null;
    }

    /// <summary>The identity of a build that does not run on this host, by its <c>binary@sha256:...</c> path.</summary>
    public static BinaryIdentity RemoteIdentity(string path) => new(path, 0, 0, 0, 0, 0);

    private string ImageFile(string image) =>
        Path.Combine(Directory, $"image-{FileKey(image)}.json");

    private string RemoteFile(BinaryIdentity identity)
    {
        return Path.Combine(Directory, $"remote-{Path.GetFileName(identity.Path.Split('@')[0])}-{FileKey(identity.ToString())}.json");
    }
}
