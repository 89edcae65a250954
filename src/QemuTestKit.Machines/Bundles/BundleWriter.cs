using System.Text;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Bundles;

/// <summary>A file to put into a bundle.</summary>
/// <param name="SourcePath">Where the file is now.</param>
/// <param name="BundlePath">Where it goes, relative to the bundle, '/'-separated (for example <c>replay.bin</c>).</param>
/// <param name="Role">What it is: one of <see cref="BundleRoles"/>.</param>
/// <param name="Move">
/// Move the file instead of copying it (for large files the caller no longer needs, such as the state image). If the
/// write fails or is cancelled, moved files are put back.
/// </param>
public sealed record BundleSource(string SourcePath, string BundlePath, string Role, bool Move = false);

/// <summary>How <see cref="ReplayBundleWriter"/> writes a bundle.</summary>
public sealed record BundleWriteOptions
{
    public const long DefaultMaxCopyBytes = 256L << 20;

    /// <summary>
    /// Kernel, initrd, firmware and base disk images larger than this are not copied but referenced by their original
    /// path, size and sha256 (<see cref="BundleManifest.ExternalFiles"/>). Files of other roles are always copied.
    /// </summary>
    public long MaxCopyBytes { get; init; } = DefaultMaxCopyBytes;

    /// <summary>Replace an existing bundle (and zip) of the same name instead of failing.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Also write <c>&lt;name&gt;.qtkreplay.zip</c> next to the bundle directory.</summary>
    public bool Zip { get; init; }

    /// <summary>Test hook: runs after each source has been placed in the temporary directory.</summary>
    internal Func<string, CancellationToken, ValueTask>? AfterEachSource { get; init; }
}

/// <summary>
/// Writes a replay bundle atomically: everything goes into a temporary sibling directory
/// (<c>.&lt;name&gt;.qtkreplay.&lt;guid&gt;.tmp</c>), <c>bundle.json</c> is written last, and the directory is renamed
/// to its final name at the end. A crash or a cancellation never leaves a directory that looks like a whole bundle.
/// </summary>
public static class ReplayBundleWriter
{
    /// <summary>
    /// Writes the bundle and returns its directory (<paramref name="bundleDirectory"/>, with <c>.qtkreplay</c> appended
    /// when it does not end with it). Fills <see cref="BundleManifest.Files"/>, <see cref="BundleManifest.ExternalFiles"/>
    /// (added to any the manifest already has) and the transcript's file, length and sha256 (from the source of role
    /// <c>transcript</c>, and its chunks file from the source of role <c>transcript-chunks</c>); sets
    /// <see cref="BundleManifest.CreatedAt"/> when it is unset.
    /// </summary>
    /// <exception cref="ReplayBundleException">The bundle exists (without <see cref="BundleWriteOptions.Overwrite"/>) or a source file is missing.</exception>
    /// <exception cref="ArgumentException">The sources break the bundle rules (unsafe or duplicate bundle paths, not exactly one transcript).</exception>
    public static async Task<string> WriteAsync(
        BundleManifest manifest,
        IReadOnlyList<BundleSource> sources,
        string bundleDirectory,
        BundleWriteOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentException.ThrowIfNullOrEmpty(bundleDirectory);
        options ??= new BundleWriteOptions();
        var target = TargetOf(bundleDirectory);
        var zipTarget = options.Zip ? target + ".zip" : null;
        CheckSources(sources);
        CheckTarget(target, options.Overwrite);
        if (zipTarget is not null)
        {
            CheckTarget(zipTarget, options.Overwrite);
        }

        foreach (var source in sources)
        {
            if (!File.Exists(source.SourcePath))
            {
                throw new ReplayBundleException(ReplayBundleError.SourceMissing, target,
                    $"cannot write replay bundle '{target}': its {source.Role} '{Path.GetFullPath(source.SourcePath)}' does not exist");
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temp = BundlePaths.TempSibling(target);
        Directory.CreateDirectory(temp);
        var moved = new List<(string Source, string Placed)>();
        string? zipTemp = null;
        var committed = false;
        try
        {
            var files = new List<BundleFile>();
            var externals = new List<ExternalFile>(manifest.ExternalFiles);
            foreach (var source in sources)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var length = new FileInfo(source.SourcePath).Length;
                if (BundleRoles.MayBeExternal(source.Role) && length > options.MaxCopyBytes)
                {
                    var (size, sha256) = await BundleHashing.HashFileAsync(source.SourcePath, cancellationToken).ConfigureAwait(false);
                    externals.Add(new ExternalFile(Path.GetFullPath(source.SourcePath), size, sha256, source.Role) { BundlePath = source.BundlePath });
                }
                else
                {
                    var placed = Path.Combine(temp, source.BundlePath.Replace('/', Path.DirectorySeparatorChar));
                    Directory.CreateDirectory(Path.GetDirectoryName(placed)!);
                    (long Size, string Sha256) copied;
                    if (source.Move)
                    {
                        File.Move(source.SourcePath, placed);
                        moved.Add((source.SourcePath, placed));
                        DiskFlush.File(placed);
                        copied = await BundleHashing.HashFileAsync(placed, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        copied = await BundleHashing.CopyAndHashAsync(source.SourcePath, placed, cancellationToken).ConfigureAwait(false);
                    }

                    files.Add(new BundleFile(source.BundlePath, copied.Size, copied.Sha256, source.Role));
                }

                if (options.AfterEachSource is { } hook)
                {
                    await hook(source.BundlePath, cancellationToken).ConfigureAwait(false);
                }
            }

            files.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
            var transcript = files.Single(f => f.Role == BundleRoles.Transcript);
            var chunks = files.SingleOrDefault(f => f.Role == BundleRoles.TranscriptChunks);
            var final = manifest with
            {
                Kind = BundleManifest.KindValue,
                SchemaVersion = BundleManifest.CurrentSchemaVersion,
                CreatedAt = manifest.CreatedAt == default ? DateTimeOffset.UtcNow : manifest.CreatedAt,
                Transcript = manifest.Transcript with { File = transcript.Path, Length = transcript.Size, Sha256 = transcript.Sha256, ChunksFile = chunks?.Path },
                Files = files,
                ExternalFiles = externals,
            };

            cancellationToken.ThrowIfCancellationRequested();
            await WriteManifestAsync(Path.Combine(temp, BundlePaths.ManifestName), final, cancellationToken).ConfigureAwait(false);
            if (zipTarget is not null)
            {
                zipTemp = BundlePaths.TempSibling(zipTarget);
                await BundleZip.PackAsync(temp, [.. files.Select(f => f.Path)], zipTemp, Path.GetFileName(target), cancellationToken).ConfigureAwait(false);
            }

            cancellationToken.ThrowIfCancellationRequested();
            Commit(temp, target, options.Overwrite, directory: true);
            committed = true;
            if (zipTemp is not null)
            {
                Commit(zipTemp, zipTarget!, options.Overwrite, directory: false);
                zipTemp = null;
            }

            return target;
        }
        catch
        {
            if (!committed)
            {
                // Put moved sources back before the temporary directory goes: the caller still owns them.
                foreach (var (source, placed) in moved)
                {
                    TryRestore(placed, source);
                }

                TryDelete(temp, directory: true);
            }

            if (zipTemp is not null)
            {
                TryDelete(zipTemp, directory: false);
            }

            throw;
        }
    }

    /// <summary>The bundle directory for a requested path: absolute, with <c>.qtkreplay</c> appended when missing.</summary>
    public static string TargetOf(string bundleDirectory)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(bundleDirectory));
        return full.EndsWith(BundlePaths.DirectorySuffix, StringComparison.Ordinal) ? full : full + BundlePaths.DirectorySuffix;
    }

    internal static async Task WriteManifestAsync(string path, BundleManifest manifest, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(BundleManifestJson.Serialize(manifest) + "\n");
        var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1, FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }
    }

    /// <summary>Renames a finished temporary directory (or file) to its final name, replacing an existing one only when asked.</summary>
    internal static void Commit(string temp, string target, bool overwrite, bool directory)
    {
        if (Directory.Exists(target) || File.Exists(target))
        {
            if (!overwrite)
            {
                throw Exists(target);
            }

            var old = BundlePaths.TempSibling(target, ".old");
            if (Directory.Exists(target))
            {
                Directory.Move(target, old);
            }
            else
            {
                File.Move(target, old);
            }

            Move(temp, target, directory);
            TryDelete(old, directory: Directory.Exists(old));
            return;
        }

        try
        {
            Move(temp, target, directory);
        }
        catch (IOException e) when (Directory.Exists(target) || File.Exists(target))
        {
            throw Exists(target, e);
        }
    }

    internal static void CheckTarget(string target, bool overwrite)
    {
        if (!overwrite && (Directory.Exists(target) || File.Exists(target)))
        {
            throw Exists(target);
        }
    }

    internal static void TryDelete(string path, bool directory)
    {
        try
        {
            if (directory && Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else if (!directory && File.Exists(path))
            {
                File.Delete(path);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static void Move(string from, string to, bool directory)
    {
        if (directory)
        {
            Directory.Move(from, to);
        }
        else
        {
            File.Move(from, to);
        }
    }

    private static void TryRestore(string placed, string source)
    {
        try
        {
            if (File.Exists(placed) && !File.Exists(source))
            {
                File.Move(placed, source);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static ReplayBundleException Exists(string target, Exception? inner = null) =>
        new(ReplayBundleError.AlreadyExists, target,
            $"replay bundle '{target}' already exists: delete it, choose another name, or write with Overwrite", inner);

    private static void CheckSources(IReadOnlyList<BundleSource> sources)
    {
        var paths = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var transcripts = 0;
        var chunks = 0;
        foreach (var source in sources)
        {
            ArgumentNullException.ThrowIfNull(source, nameof(sources));
            if (string.IsNullOrEmpty(source.SourcePath))
            {
                throw new ArgumentException("a bundle source has no source path", nameof(sources));
            }

            if (BundlePaths.Problem(source.BundlePath) is { } problem)
            {
                throw new ArgumentException($"bundle path '{source.BundlePath}' of '{source.SourcePath}' is not a safe path inside a bundle: {problem}", nameof(sources));
            }

            if (string.IsNullOrWhiteSpace(source.Role) || source.Role.Any(char.IsControl))
            {
                throw new ArgumentException($"bundle source '{source.SourcePath}' has no role", nameof(sources));
            }

            if (!paths.Add(source.BundlePath))
            {
                throw new ArgumentException($"bundle path '{source.BundlePath}' is used twice (bundle paths must differ, ignoring case)", nameof(sources));
            }

            transcripts += source.Role == BundleRoles.Transcript ? 1 : 0;
            chunks += source.Role == BundleRoles.TranscriptChunks ? 1 : 0;
        }

        foreach (var path in paths)
        {
            var slash = path.IndexOf('/', StringComparison.Ordinal);
            while (slash > 0)
            {
                if (paths.Contains(path[..slash]))
                {
                    throw new ArgumentException($"bundle path '{path[..slash]}' is a file and also the directory of '{path}'", nameof(sources));
                }

                slash = path.IndexOf('/', slash + 1);
            }
        }

        if (transcripts != 1 || chunks > 1)
        {
            throw new ArgumentException(
                $"a bundle needs exactly one source of role '{BundleRoles.Transcript}' (got {transcripts}) and at most one of role '{BundleRoles.TranscriptChunks}' (got {chunks})",
                nameof(sources));
        }
    }
}
