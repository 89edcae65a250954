using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace QemuTestKit.Introspection.Catalog;

/// <summary>
/// The sha256 of a file, computed once per version of it: kept in memory, and for files of
/// <see cref="PersistFromBytes"/> or more also in a small file next to the catalog cache, both keyed on the file's
/// identity (size, mtime, ctime, inode, device). A replay then does not hash the QEMU binary (~20 MB, 20-50 ms) or the
/// bundle's large files (a 250 MiB state image: ~0.5 s) every time it verifies them. Any change to a file changes its
/// ctime, which no program can set back, so a changed file is always hashed again. Entries of files that are gone (a
/// deleted bundle) are removed the first time a process writes an entry into the directory, so it does not grow with
/// every bundle ever verified.
/// </summary>
public static class FileHashCache
{
    /// <summary>Smaller files are rehashed in each process (well under a millisecond a file): only memory keeps them.</summary>
    public const long PersistFromBytes = 1 << 20;

    private const string EntrySuffix = ".sha256.json";
    private static readonly ConcurrentDictionary<BinaryIdentity, string> Memory = new();
    private static readonly ConcurrentDictionary<string, bool> Pruned = new(StringComparer.Ordinal);
    private static long s_filesRead;

    /// <summary>How many files this process has read to hash them (the cache missed).</summary>
    internal static long FilesRead => Interlocked.Read(ref s_filesRead);

    /// <summary>The sha256 (lower-case hex) of the file at <paramref name="path"/>.</summary>
    public static async Task<string> Sha256Async(string path, string? cacheDirectory = null, CancellationToken cancellationToken = default) =>
        (await HashAsync(path, cacheDirectory, cancellationToken).ConfigureAwait(false)).Sha256;

    /// <summary>The identity of the file at <paramref name="path"/> as it was hashed, and its sha256 (lower-case hex).</summary>
    public static async Task<FileHash> HashAsync(string path, string? cacheDirectory = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var identity = BinaryIdentityReader.Read(path);
        if (Memory.TryGetValue(identity, out var known))
        {
            return new FileHash(identity, known);
        }

        var persist = identity.Size >= PersistFromBytes;
        var directory = cacheDirectory ?? CatalogCache.DefaultDirectory();
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(identity.Path)))[..16].ToLowerInvariant();
        var file = Path.Combine(directory, $"{Path.GetFileName(identity.Path)}-{key}{EntrySuffix}");
        if (persist && Read(file) is { } entry && entry.Identity == identity)
        {
            Memory[identity] = entry.Sha256;
            return entry;
        }

        string sha;
        Interlocked.Increment(ref s_filesRead);
        var stream = File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            sha = Convert.ToHexString(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false)).ToLowerInvariant();
        }

        // The file may have changed while it was read: only an unchanged identity is remembered.
        var hash = new FileHash(identity, sha);
        if (BinaryIdentityReader.Read(path) == identity)
        {
            Memory[identity] = sha;
            if (persist)
            {
                PruneOnce(directory);
                Write(directory, file, hash);
            }
        }

        return hash;
    }

    /// <summary>Lets the next write prune again, as in a new process (for tests).</summary>
    internal static void ForgetPrunedDirectories() => Pruned.Clear();

    /// <summary>Removes the entries of files that no longer exist, once per directory and process.</summary>
    private static void PruneOnce(string directory)
    {
        if (!Pruned.TryAdd(Path.GetFullPath(directory), true) || !Directory.Exists(directory))
        {
            return;
        }

        try
        {
            foreach (var entryFile in Directory.EnumerateFiles(directory, "*" + EntrySuffix))
            {
                if (Read(entryFile) is { } entry && !File.Exists(entry.Identity.Path))
                {
                    TryDelete(entryFile);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An unreadable cache directory is only a cache that does not shrink.
        }
    }

    private static FileHash? Read(string file)
    {
        try
        {
            return File.Exists(file) ? JsonSerializer.Deserialize(File.ReadAllBytes(file), FileHashJsonContext.Default.FileHash) : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null; // a damaged entry is recomputed and rewritten
        }
    }

    private static void Write(string directory, string file, FileHash entry)
    {
        var temp = $"{file}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            Directory.CreateDirectory(directory);
            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(entry, FileHashJsonContext.Default.FileHash));
            File.Move(temp, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A cache that cannot be written costs time, not correctness.
            TryDelete(temp);
        }
    }

    private static void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>One entry of <see cref="FileHashCache"/>.</summary>
public sealed record FileHash(BinaryIdentity Identity, string Sha256);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(FileHash))]
internal sealed partial class FileHashJsonContext : JsonSerializerContext;
