using System.Globalization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Bundles;

/// <summary>
/// The images a replay writes (the state image, disk overlays), kept between replays of the same bundle file so that a
/// replay's start does not copy the whole image (hundreds of MB for a bundle with checkpoints; a replay's fixed cost
/// grew with the bundle). Reusing one is sound because a replay never changes what it loads: <c>loadvm</c> points the
/// image's active tables at a snapshot and the guest's writes go to new clusters, so every internal snapshot stays as
/// recorded, and qcow2 orders its metadata writes so that a QEMU killed mid-write leaves only leaked clusters. Before
/// each use the working copy is checked against the bundle's file (the same snapshot table, a clean header, bounded
/// growth) and made again when it differs (someone saved a snapshot into it, or QEMU marked it corrupt).
/// A working copy serves one replay at a time (an exclusive lock held until QEMU is gone); a replay that finds it in
/// use gets a private copy, as does every replay when the cache is off (<see cref="LimitVariable"/> = 0).
/// </summary>
internal static class ReplayImageCache
{
    public const string DirectoryName = "replay-images";

    /// <summary>The cache's size limit in MB (default 4096); 0 turns it off. Least recently used copies go first.</summary>
    public const string LimitVariable = "QEMUTESTKIT_REPLAY_IMAGE_CACHE_MB";

    private const long DefaultLimitMb = 4096;
    private const string EntrySuffix = ".qcow2";
    private const string UnpackedSuffix = ".image";
    private const string LockSuffix = ".lock";

    /// <summary>
    /// The state image a pack holds (<see cref="StatePack"/>), restored once into the cache as
    /// <c>&lt;sha256&gt;.image</c> and reused from there: the bundle's pristine image, read (snapshot tables) and copied
    /// (working copies), never written. The name is the image's sha256 from the pack's header, which the restore checks.
    /// </summary>
    /// <param name="holdFor">
    /// A run that reads the image for its whole life (a disk base under an overlay, opened by QEMU): it holds a shared
    /// lock on the image's sidecar from before the image is looked for until the run ends, and an eviction, which
    /// needs that lock exclusively, leaves the image alone meanwhile.
    /// </param>
    /// <exception cref="InvalidDataException">The pack is damaged; the message names it.</exception>
    public static async Task<string> UnpackedAsync(string pack, string? cacheDirectory = null, RunDirectory? holdFor = null,
        CancellationToken cancellationToken = default)
    {
        var directory = Path.Combine(cacheDirectory ?? CatalogCache.DefaultDirectory(), DirectoryName);
        Directory.CreateDirectory(directory);
        var image = Path.Combine(directory, StatePack.ImageSha256(pack) + UnpackedSuffix);
        if (holdFor is not null && await SharedLockAsync(image, cancellationToken).ConfigureAwait(false) is { } shared)
        {
            holdFor.Hold(shared);
        }

        if (!File.Exists(image))
        {
            // The restore writes a temporary file and renames it: two processes restoring at once both end with the same bytes.
            await StatePack.UnpackAsync(pack, image, cancellationToken).ConfigureAwait(false);
            Evict(directory, LimitBytes(), keep: image);
        }

        // Use is stamped on a sidecar, as for working copies: a new mtime on the image itself would make FileHashCache
        // read all of it again at the next replay.
        Touch(image + LockSuffix);
        return image;
    }

    /// <summary>
    /// Puts a writable copy of <paramref name="source"/> at <paramref name="destination"/> for the replay in
    /// <paramref name="run"/>: a link to the cached working copy, locked for the run, or a private copy. Returns whether
    /// the cached copy was used. The copy is found by the source's own sha256 (<see cref="FileHashCache"/>: read once
    /// per version of the file), not the one bundle.json claims, so an unverified bundle never seeds the cache.
    /// </summary>
    /// <param name="limitBytes">The cache's size limit; null for <see cref="LimitVariable"/>'s.</param>
    public static async Task<bool> ProvideAsync(string source, string destination, RunDirectory run, string? cacheDirectory = null,
        long? limitBytes = null, CancellationToken cancellationToken = default)
    {
        var limit = limitBytes ?? LimitBytes();
        if (limit == 0 || !OperatingSystem.IsLinux())
        {
            ImageCopy.Copy(source, destination);
            return false;
        }

        var sha256 = await FileHashCache.Sha256Async(source, cacheDirectory, cancellationToken).ConfigureAwait(false);
        var directory = Path.Combine(cacheDirectory ?? CatalogCache.DefaultDirectory(), DirectoryName);
        Directory.CreateDirectory(directory);
        var entry = Path.Combine(directory, sha256.ToLowerInvariant() + EntrySuffix);
        if (TryLock(entry) is not { } held)
        {
            ImageCopy.Copy(source, destination);
            return false;
        }

        try
        {
            if (!Matches(entry, source))
            {
                var temp = BundlePaths.TempSibling(entry);
                try
                {
                    ImageCopy.Copy(source, temp);
                    File.Move(temp, entry, overwrite: true);
                }
                catch
                {
                    ReplayBundleWriter.TryDelete(temp, directory: false);
                    throw;
                }

                Evict(directory, limit, keep: entry);
            }

            // The lock file's time says when the copy was last used: eviction goes by it.
            Touch(entry + LockSuffix);
            File.CreateSymbolicLink(destination, entry);
            run.Hold(held);
            return true;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    /// <summary>Whether the working copy still holds what the bundle's image holds, in a state QEMU will open and write.</summary>
    internal static bool Matches(string entry, string source)
    {
        try
        {
            return File.Exists(entry)
                && new FileInfo(entry).Length <= (2 * new FileInfo(source).Length) + (64L << 20)
                && Qcow2Header.IsClean(entry)
                && Qcow2SnapshotTable.Read(entry).SequenceEqual(Qcow2SnapshotTable.Read(source));
        }
        catch (QemuImageException)
        {
            return false;
        }
    }

    /// <summary>The exclusive lock of a working copy (on Unix, <see cref="FileShare.None"/> is an exclusive <c>flock</c>); null when another replay holds it.</summary>
    private static FileStream? TryLock(string entry)
    {
        try
        {
            return new FileStream(entry + LockSuffix, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// A shared lock on <paramref name="entry"/>'s sidecar (on Unix, a <see cref="FileShare"/> other than None is a
    /// shared <c>flock</c>). An eviction holds it exclusively only while it deletes, so a few tries get it; null when
    /// they do not, and the caller goes on unprotected, as before there was a lock.
    /// </summary>
    private static async Task<FileStream?> SharedLockAsync(string entry, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(entry + LockSuffix, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
            }
            catch (IOException) when (attempt < 20)
            {
                await Task.Delay(10, ct).ConfigureAwait(false);
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    /// <summary>Deletes the least recently used working copies nobody holds until the cache fits its limit.</summary>
    private static void Evict(string directory, long limit, string keep)
    {
        var entries = Entries(new DirectoryInfo(directory).EnumerateFiles(), keep);
        var total = entries.Sum(e => e.Length) + new FileInfo(keep).Length;
        foreach (var (file, _, length) in entries)
        {
            if (total <= limit)
            {
                break;
            }

            using var held = TryLock(file.FullName);
            if (held is null)
            {
                continue;
            }

            total -= length;
            file.Delete();
        }

        // Copies that a process killed mid-copy left behind.
        foreach (var stale in new DirectoryInfo(directory).EnumerateFiles("*.tmp").Where(f => f.LastWriteTimeUtc < DateTime.UtcNow.AddHours(-1)))
        {
            stale.Delete();
        }
    }

    /// <summary>
    /// The cache's working copies other than <paramref name="keep"/>, least recently used first, with their sizes. Other
    /// processes share the cache and evict too: a copy deleted between the listing and its size is left out, not an error.
    /// </summary>
    internal static List<(FileInfo File, DateTime Used, long Length)> Entries(IEnumerable<FileInfo> files, string keep)
    {
        var entries = new List<(FileInfo File, DateTime Used, long Length)>();
        foreach (var file in files)
        {
            if (file.FullName == keep || !(file.Name.EndsWith(EntrySuffix, StringComparison.Ordinal) || file.Name.EndsWith(UnpackedSuffix, StringComparison.Ordinal)))
            {
                continue;
            }

            try
            {
                var stamp = file.FullName + LockSuffix;
                entries.Add((file, File.Exists(stamp) ? File.GetLastWriteTimeUtc(stamp) : file.LastWriteTimeUtc, file.Length));
            }
            catch (FileNotFoundException)
            {
            }
        }

        return [.. entries.OrderBy(e => e.Used)];
    }

    /// <summary>Stamps a use on a sidecar file; best effort (an eviction may hold the sidecar for a moment).</summary>
    private static void Touch(string stamp)
    {
        try
        {
            if (!File.Exists(stamp))
            {
                File.WriteAllBytes(stamp, []);
            }

            File.SetLastWriteTimeUtc(stamp, DateTime.UtcNow);
        }
        catch (IOException)
        {
        }
    }

    private static long LimitBytes()
    {
        var text = Environment.GetEnvironmentVariable(LimitVariable);
        return string.IsNullOrWhiteSpace(text)
            ? DefaultLimitMb << 20
            : long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var mb)
                ? mb << 20
                : throw new RunDirectoryException($"{LimitVariable}='{text}' is not a whole number of MB: set it to the replay image cache's size limit in MB, or 0 to turn the cache off");
    }
}
