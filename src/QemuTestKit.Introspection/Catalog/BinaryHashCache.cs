using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace QemuTestKit.Introspection.Catalog;

/// <summary>
/// The sha256 of a QEMU binary, computed once per build of it: kept in memory and in a small file next to the catalog
/// cache, both keyed on the binary's identity (size, mtime, ctime, inode, device), so a replay does not hash ~20 MB
/// (20-50 ms) every time. A changed binary has a new identity and is hashed again.
/// </summary>
public static class BinaryHashCache
{
    private static readonly ConcurrentDictionary<BinaryIdentity, string> Memory = new();

    /// <summary>The sha256 (lower-case hex) of the file at <paramref name="path"/>.</summary>
    public static async Task<string> Sha256Async(string path, string? cacheDirectory = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var identity = BinaryIdentityReader.Read(path);
        if (Memory.TryGetValue(identity, out var known))
        {
            return known;
        }

        var directory = cacheDirectory ?? CatalogCache.DefaultDirectory();
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(identity.Path)))[..16].ToLowerInvariant();
        var file = Path.Combine(directory, $"{Path.GetFileName(identity.Path)}-{key}.sha256.json");
        if (Read(file) is { } entry && entry.Identity == identity)
        {
            return Memory[identity] = entry.Sha256;
        }

        string sha;
        var stream = File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            sha = Convert.ToHexString(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false)).ToLowerInvariant();
        }

        // The file may have changed while it was read: only an unchanged identity is remembered.
        if (BinaryIdentityReader.Read(path) == identity)
        {
            Memory[identity] = sha;
            Write(directory, file, new BinaryHash(identity, sha));
        }

        return sha;
    }

    private static BinaryHash? Read(string file)
    {
        try
        {
            return File.Exists(file) ? JsonSerializer.Deserialize(File.ReadAllBytes(file), BinaryHashJsonContext.Default.BinaryHash) : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null; // a damaged entry is recomputed and rewritten
        }
    }

    private static void Write(string directory, string file, BinaryHash entry)
    {
        var temp = $"{file}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            Directory.CreateDirectory(directory);
            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(entry, BinaryHashJsonContext.Default.BinaryHash));
            File.Move(temp, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A cache that cannot be written costs time, not correctness.
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}

/// <summary>One entry of <see cref="BinaryHashCache"/>.</summary>
public sealed record BinaryHash(BinaryIdentity Identity, string Sha256);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(BinaryHash))]
internal sealed partial class BinaryHashJsonContext : JsonSerializerContext;
