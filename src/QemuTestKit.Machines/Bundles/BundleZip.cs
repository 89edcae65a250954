using System.IO.Compression;

namespace QemuTestKit.Machines.Bundles;

/// <summary>
/// The zip form of a bundle: one top-level directory <c>&lt;name&gt;.qtkreplay/</c> holding the bundle's files, with
/// <c>bundle.json</c> as the last entry. Readers also accept <c>bundle.json</c> at the root of the archive.
/// </summary>
internal static class BundleZip
{
    private static readonly byte[] LocalHeader = [0x50, 0x4B, 0x03, 0x04];
    private static readonly byte[] EmptyArchive = [0x50, 0x4B, 0x05, 0x06];

    /// <summary>Whether a file starts like a zip archive.</summary>
    public static bool LooksLikeZip(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        var read = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        return read == 4 && (head.SequenceEqual(LocalHeader) || head.SequenceEqual(EmptyArchive));
    }

    /// <summary>Packs the listed files of <paramref name="directory"/> and then its bundle.json into a new zip.</summary>
    public static async Task PackAsync(string directory, IReadOnlyList<string> files, string zipPath, string rootName, CancellationToken cancellationToken)
    {
        var stream = new FileStream(zipPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 1 << 16, FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            using (var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
            {
                foreach (var relative in files.Append(BundlePaths.ManifestName))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var path = Path.Combine(directory, relative.Replace('/', Path.DirectorySeparatorChar));
                    var entry = archive.CreateEntry($"{rootName}/{relative}", CompressionLevel.Fastest);
                    entry.LastWriteTime = File.GetLastWriteTime(path);
                    var output = entry.Open();
                    await using (output.ConfigureAwait(false))
                    {
                        var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
                        await using (input.ConfigureAwait(false))
                        {
                            await input.CopyToAsync(output, 1 << 20, cancellationToken).ConfigureAwait(false);
                        }
                    }
                }
            }

            stream.Flush(flushToDisk: true);
        }
    }

    /// <summary>
    /// Extracts the bundle in <paramref name="zipPath"/> into a new private temporary directory; returns that directory
    /// (the caller deletes it) and the bundle directory inside it.
    /// </summary>
    public static async Task<(string TempRoot, string BundleDirectory)> ExtractAsync(string zipPath, CancellationToken cancellationToken)
    {
        var root = Directory.CreateTempSubdirectory("qtk-bundle-").FullName;
        try
        {
            var stream = new FileStream(zipPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16, FileOptions.Asynchronous);
            await using (stream.ConfigureAwait(false))
            {
                using var archive = Open(stream, zipPath);
                var prefix = FindManifest(archive, zipPath);
                var name = prefix.Length > 0 ? prefix.TrimEnd('/') : Path.GetFileNameWithoutExtension(zipPath);
                if (BundlePaths.Problem(name) is not null || name.Contains('/', StringComparison.Ordinal))
                {
                    name = "bundle" + BundlePaths.DirectorySuffix;
                }

                var bundle = Path.Combine(root, name);
                Directory.CreateDirectory(bundle);
                foreach (var entry in archive.Entries)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (!entry.FullName.StartsWith(prefix, StringComparison.Ordinal) || entry.FullName.EndsWith('/'))
                    {
                        continue;
                    }

                    var relative = entry.FullName[prefix.Length..];
                    if (relative != BundlePaths.ManifestName && BundlePaths.Problem(relative) is { } problem)
                    {
                        throw new ReplayBundleException(ReplayBundleError.UnsafePath, zipPath,
                            $"replay bundle '{zipPath}' is unsafe: the zip entry '{entry.FullName}' is not a path inside the bundle ({problem}); the archive is corrupt or hostile, do not use it");
                    }

                    var path = Path.Combine(bundle, relative.Replace('/', Path.DirectorySeparatorChar));
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    try
                    {
                        var input = entry.Open();
                        await using (input.ConfigureAwait(false))
                        {
                            var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1, FileOptions.Asynchronous);
                            await using (output.ConfigureAwait(false))
                            {
                                await input.CopyToAsync(output, 1 << 20, cancellationToken).ConfigureAwait(false);
                            }
                        }
                    }
                    catch (InvalidDataException e)
                    {
                        throw Damaged(zipPath, $"its entry '{entry.FullName}' cannot be read ({e.Message})", e);
                    }
                    catch (IOException e) when (File.Exists(path) || Directory.Exists(path))
                    {
                        throw Damaged(zipPath, $"it holds '{entry.FullName}' twice or as both a file and a directory", e);
                    }
                }

                return (root, bundle);
            }
        }
        catch
        {
            ReplayBundleWriter.TryDelete(root, directory: true);
            throw;
        }
    }

    private static ZipArchive Open(Stream stream, string zipPath)
    {
        try
        {
            return new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw Damaged(zipPath, $"it is not a readable zip archive ({e.Message})", e);
        }
    }

    /// <summary>"" when bundle.json is at the root, "&lt;dir&gt;/" when it is in one top-level directory.</summary>
    private static string FindManifest(ZipArchive archive, string zipPath)
    {
        var prefixes = archive.Entries
            .Select(e => e.FullName)
            .Where(n => n == BundlePaths.ManifestName
                || (n.EndsWith("/" + BundlePaths.ManifestName, StringComparison.Ordinal) && n.IndexOf('/', StringComparison.Ordinal) == n.Length - BundlePaths.ManifestName.Length - 1))
            .Select(n => n[..^BundlePaths.ManifestName.Length])
            .Distinct(StringComparer.Ordinal)
            .ToList();
        return prefixes.Count switch
        {
            1 => prefixes[0],
            0 => throw new ReplayBundleException(ReplayBundleError.NotABundle, zipPath,
                $"'{zipPath}' is not a replay bundle: the zip holds no bundle.json (at its root or in one top-level directory); pass a zip made by qemutestkit"),
            _ => throw new ReplayBundleException(ReplayBundleError.NotABundle, zipPath,
                $"'{zipPath}' holds several replay bundles ({string.Join(", ", prefixes.Select(p => p.Length == 0 ? "/" : p))}); unzip it and open one of them"),
        };
    }

    private static ReplayBundleException Damaged(string zipPath, string what, Exception inner) =>
        new(ReplayBundleError.DamagedZip, zipPath, $"replay bundle '{zipPath}' is damaged: {what}; copy the zip again or use the bundle directory", inner);
}
