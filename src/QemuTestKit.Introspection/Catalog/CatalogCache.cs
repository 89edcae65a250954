using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace QemuTestKit.Introspection.Catalog;

/// <summary>
/// Catalogs cached as one JSON file per binary, keyed by the binary's resolved path and invalidated when its size,
/// mtime, ctime, inode, or the catalog schema version change. Safe to share between concurrent builds and tests:
/// writes are atomic (temp file, then rename) and a lock file keeps two processes from walking the same binary at once.
/// </summary>
public sealed partial class CatalogCache
{
    // The cache is read by programs, not people: no indentation (a third of the file).
    private static readonly CatalogJsonContext Compact = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    });

    private readonly QemuIntrospector _introspector;
    private readonly Action<string> _warn;

    public CatalogCache(string? directory = null, QemuIntrospector? introspector = null, Action<string>? warn = null)
    {
        Directory = directory ?? DefaultDirectory();
        _introspector = introspector ?? new QemuIntrospector();
        _warn = warn ?? (_ => { });
    }

    /// <summary>Where the catalogs live: <c>$XDG_CACHE_HOME/qemutestkit</c>, else <c>~/.cache/qemutestkit</c>, unless overridden.</summary>
    public string Directory { get; }

    /// <summary>How long to wait for another process that is walking the same binary.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromMinutes(3);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long FileStamp, QemuCatalog Catalog)> Parsed = new(StringComparer.Ordinal);

    public static string DefaultDirectory()
    {
        var overridden = Environment.GetEnvironmentVariable("QEMUTESTKIT_CACHE_DIR");
        if (!string.IsNullOrEmpty(overridden))
        {
            return overridden;
        }

        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "qemutestkit");
    }

    /// <summary>The catalog of a binary: from the cache when still valid (<see cref="CatalogSource.Cache"/>), otherwise from QEMU.</summary>
    public async Task<QemuCatalog> GetAsync(string binaryNameOrPath, CancellationToken cancellationToken = default)
    {
        var binary = QemuBinary.Resolve(binaryNameOrPath);
        return await GetOrMakeAsync(FileFor(binary.Path), binary.Path, () => BinaryIdentityReader.Read(binary.Path),
            ct => _introspector.IntrospectAsync(binary.Path, ct), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The catalog of an emulator that does not run on this host (the QEMU of a container image), which only
    /// <paramref name="introspect"/> can ask: cached by <paramref name="identity"/> (for an image, its binary's sha256),
    /// which never changes for the same build.
    /// </summary>
    public Task<QemuCatalog> GetAsync(BinaryIdentity identity, Func<CancellationToken, Task<QemuCatalog>> introspect, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(introspect);
        return GetOrMakeAsync(RemoteFile(identity), binaryPath: null, () => identity,
            async ct => (await introspect(ct).ConfigureAwait(false)) with { BinaryIdentity = identity }, cancellationToken);
    }

    /// <summary>The catalog in <paramref name="file"/> while valid, else made by <paramref name="make"/> under the file's lock and written.</summary>
    private async Task<QemuCatalog> GetOrMakeAsync(string file, string? binaryPath, Func<BinaryIdentity?> identityNow,
        Func<CancellationToken, Task<QemuCatalog>> make, CancellationToken cancellationToken)
    {
        if (TryRead(file, binaryPath, identityNow) is { } cached)
        {
            return cached;
        }

        System.IO.Directory.CreateDirectory(Directory);
        await using (await CacheLock.AcquireAsync(file + ".lock", LockTimeout, cancellationToken).ConfigureAwait(false))
        {
            // Another process may have written it while we waited for the lock.
            if (TryRead(file, binaryPath, identityNow) is { } written)
            {
                return written;
            }

            var catalog = await make(cancellationToken).ConfigureAwait(false);
            Write(file, catalog);
            return catalog;
        }
    }

    /// <summary>Removes the cached catalog of a binary, if any.</summary>
    public void Invalidate(string binaryNameOrPath)
    {
        var file = FileFor(QemuBinary.Resolve(binaryNameOrPath).Path);
        File.Delete(file);
    }

    /// <summary>The cache file for a resolved binary path.</summary>
    public string FileFor(string resolvedBinaryPath)
    {
        return Path.Combine(Directory, $"{Path.GetFileName(resolvedBinaryPath)}-{FileKey(resolvedBinaryPath)}.json");
    }

    /// <summary>The part of a cache file's name that stands for what it caches: 16 hex digits of its sha256.</summary>
    private static string FileKey(string what) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(what)))[..16].ToLowerInvariant();

    /// <param name="binaryPath">The local binary the catalog must name; null for a remote one (its identity says it all).</param>
    /// <param name="identityNow">The binary's identity now.</param>
    private QemuCatalog? TryRead(string file, string? binaryPath, Func<BinaryIdentity?> identityNow)
    {
        if (!File.Exists(file))
        {
            return null;
        }

        // Parsing the ~5 MB file costs tens of milliseconds: a process that asks again (every replay, every start
        // without a catalog) gets the parsed one while the cache file and the binary are unchanged.
        var fileStamp = File.GetLastWriteTimeUtc(file).Ticks;
        if (Parsed.TryGetValue(file, out var memo) && memo.FileStamp == fileStamp && (binaryPath is null || memo.Catalog.Binary == binaryPath)
            && identityNow() == memo.Catalog.BinaryIdentity)
        {
            return memo.Catalog with { Source = CatalogSource.Cache };
        }

        QemuCatalog? catalog;
        try
        {
            using var stream = File.OpenRead(file);
            catalog = JsonSerializer.Deserialize(stream, CatalogJsonContext.Default.QemuCatalog);
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException or InvalidOperationException)
        {
            _warn($"the cached QEMU catalog {file} is unreadable ({e.Message.Split('\n')[0]}); it is discarded and rebuilt");
            TryDelete(file);
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        if (catalog is null || catalog.SchemaVersion != QemuCatalog.CurrentSchemaVersion || (binaryPath is not null && catalog.Binary != binaryPath))
        {
            return null;
        }

        var now = identityNow();
        if (now != catalog.BinaryIdentity)
        {
            return null;
        }

        Parsed[file] = (fileStamp, catalog);
        return catalog with { Source = CatalogSource.Cache };
    }

    private void Write(string file, QemuCatalog catalog)
    {
        var temp = $"{file}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                JsonSerializer.Serialize(stream, catalog with { Source = CatalogSource.Qemu }, Compact.QemuCatalog);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A cache that cannot be written costs time, not correctness.
            _warn($"could not write the QEMU catalog cache {file}: {e.Message}");
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
