using System.Globalization;
using System.Text;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Bundles;

/// <summary>How <see cref="ReplayBundle.OpenAsync(string, BundleOpenOptions?, CancellationToken)"/> opens a bundle.</summary>
public sealed record BundleOpenOptions
{
    /// <summary>
    /// Directories searched (in order, by file name) for external files before their recorded path: where a bundle's
    /// base images are on a machine other than the one that recorded it.
    /// </summary>
    public IReadOnlyList<string> ExternalSearchDirectories { get; init; } = [];
}

/// <summary>
/// An opened replay bundle: its checked manifest and safe access to its files. A bundle is a directory
/// <c>&lt;name&gt;.qtkreplay/</c> holding <c>bundle.json</c>, or a zip of one (extracted to a private temporary
/// directory that <see cref="Dispose"/> removes).
/// </summary>
public sealed class ReplayBundle : IDisposable, IAsyncDisposable
{
    private readonly string? _extractedRoot;
    private readonly IReadOnlyList<string> _searchDirectories;

    private ReplayBundle(string source, string directory, BundleManifest manifest, string? extractedRoot, IReadOnlyList<string> searchDirectories)
    {
        Source = source;
        Directory = directory;
        Manifest = manifest;
        _extractedRoot = extractedRoot;
        _searchDirectories = searchDirectories;
    }

    /// <summary>What was opened, as an absolute path: the bundle directory, its bundle.json, or the zip.</summary>
    public string Source { get; }

    /// <summary>The bundle directory (for a zip, the private directory it was extracted into).</summary>
    public string Directory { get; }

    public BundleManifest Manifest { get; }

    /// <summary>Whether the bundle came from a zip.</summary>
    public bool IsExtracted => _extractedRoot is not null;

    /// <summary>The transcript's path.</summary>
    public string TranscriptPath => PathOf(Manifest.Transcript.File);

    /// <inheritdoc cref="OpenAsync(string, BundleOpenOptions?, CancellationToken)"/>
    public static Task<ReplayBundle> OpenAsync(string path, CancellationToken cancellationToken = default) =>
        OpenAsync(path, null, cancellationToken);

    /// <summary>
    /// Opens a bundle: <paramref name="path"/> is a bundle directory, its <c>bundle.json</c>, or a zip of a bundle.
    /// Reads and checks bundle.json (see <see cref="BundleManifestJson.Parse"/>); does not hash the files
    /// (<see cref="VerifyAsync"/> does).
    /// </summary>
    /// <exception cref="ReplayBundleException">The path is missing, not a bundle, unfinished, foreign, newer, damaged or unsafe.</exception>
    public static async Task<ReplayBundle> OpenAsync(string path, BundleOpenOptions? options, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var searchDirectories = options?.ExternalSearchDirectories ?? [];
        if (System.IO.Directory.Exists(full))
        {
            return await OpenDirectoryAsync(full, full, null, searchDirectories, cancellationToken).ConfigureAwait(false);
        }

        if (!File.Exists(full))
        {
            throw new ReplayBundleException(ReplayBundleError.NotFound, full,
                $"replay bundle '{full}' not found: no such file or directory; pass a <name>.qtkreplay directory, its bundle.json, or a .qtkreplay.zip");
        }

        if (Path.GetFileName(full) == BundlePaths.ManifestName)
        {
            return await OpenDirectoryAsync(full, Path.GetDirectoryName(full)!, null, searchDirectories, cancellationToken).ConfigureAwait(false);
        }

        if (!BundleZip.LooksLikeZip(full))
        {
            if (full.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
            {
                throw new ReplayBundleException(ReplayBundleError.DamagedZip, full,
                    $"replay bundle '{full}' is damaged: it is named .zip but is not a zip archive; copy the zip again or use the bundle directory");
            }

            throw new ReplayBundleException(ReplayBundleError.NotABundle, full,
                $"'{full}' is not a replay bundle: it is a file, but neither a bundle's bundle.json nor a zip; pass a <name>.qtkreplay directory, its bundle.json, or a .qtkreplay.zip");
        }

        var (root, directory) = await BundleZip.ExtractAsync(full, cancellationToken).ConfigureAwait(false);
        try
        {
            return await OpenDirectoryAsync(full, directory, root, searchDirectories, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            ReplayBundleWriter.TryDelete(root, directory: true);
            throw;
        }
    }

    private static async Task<ReplayBundle> OpenDirectoryAsync(
        string source, string directory, string? extractedRoot, IReadOnlyList<string> searchDirectories, CancellationToken cancellationToken)
    {
        if (extractedRoot is null && BundlePaths.IsTemporary(directory))
        {
            throw new ReplayBundleException(ReplayBundleError.Unfinished, source,
                $"'{source}' is not a replay bundle but the temporary directory of a bundle write that did not finish; it cannot be used, delete it");
        }

        var manifestPath = Path.Combine(directory, BundlePaths.ManifestName);
        if (!File.Exists(manifestPath))
        {
            throw new ReplayBundleException(ReplayBundleError.NotABundle, source,
                $"'{source}' is not a replay bundle: it has no bundle.json (an interrupted write leaves none); pass a <name>.qtkreplay directory written by qemutestkit");
        }

        var length = new FileInfo(manifestPath).Length;
        if (length > BundleManifestJson.MaxManifestBytes)
        {
            throw new ReplayBundleException(ReplayBundleError.Malformed, source, string.Create(CultureInfo.InvariantCulture,
                $"replay bundle '{source}' is damaged: its bundle.json is {length} bytes, far too large for a manifest; restore the bundle from a good copy or record the run again"));
        }

        var bytes = await File.ReadAllBytesAsync(manifestPath, cancellationToken).ConfigureAwait(false);
        var manifest = BundleManifestJson.Parse(bytes, source);
        return new ReplayBundle(source, directory, manifest, extractedRoot, searchDirectories);
    }

    /// <summary>
    /// The full path of a file of the bundle. Refuses (with <see cref="ReplayBundleError.UnsafePath"/>) any path that
    /// would lead outside the bundle: absolute, with <c>..</c>, or through a symbolic link.
    /// </summary>
    public string PathOf(string relativePath)
    {
        if (relativePath != BundlePaths.ManifestName && BundlePaths.Problem(relativePath) is { } problem)
        {
            throw Unsafe($"the path '{relativePath}' is not a path inside the bundle ({problem})");
        }

        var current = Directory;
        foreach (var segment in relativePath.Split('/'))
        {
            current = Path.Combine(current, segment);
            if (new FileInfo(current).LinkTarget is not null)
            {
                throw Unsafe($"'{relativePath}' goes through a symbolic link ('{Path.GetRelativePath(Directory, current)}'); bundles never contain links");
            }
        }

        return current;
    }

    /// <summary>
    /// The state image as a qcow2 file to read and copy (never to write): the bundle's <c>state.qcow2</c>, or, for a
    /// bundle that keeps it packed (<c>state.qcow2.pack</c>, <see cref="StatePack"/>), the image restored once into the
    /// replay image cache (<see cref="ReplayImageCache.UnpackedAsync"/>). Null when the bundle has no state image.
    /// </summary>
    /// <exception cref="ReplayBundleException">The pack is damaged.</exception>
    public async Task<string?> StateImageAsync(CancellationToken cancellationToken = default)
    {
        if (PathOfRole(BundleRoles.StateImage) is not { } path)
        {
            return null;
        }

        if (!StatePack.IsPack(path))
        {
            return path;
        }

        return await UnpackedAsync(path, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The base image of the writable disk <paramref name="diskId"/> as a file to read (never to write): restored once
    /// into the replay image cache when the bundle keeps it packed, the bundle's copy in older bundles, or the external
    /// file found on this machine.
    /// </summary>
    /// <exception cref="ReplayBundleException">The bundle has no such base, the pack is damaged, or an external base is not here.</exception>
    /// <param name="holdFor">The replay's run: the restored base stays in the cache until it ends.</param>
    public async Task<string> DiskBaseAsync(string diskId, RunDirectory? holdFor = null, CancellationToken cancellationToken = default)
    {
        var packed = BundlePaths.PackedDiskBase(diskId);
        if (Manifest.Files.Any(f => f.Path == packed))
        {
            return await UnpackedAsync(PathOf(packed), holdFor, cancellationToken).ConfigureAwait(false);
        }

        var relative = BundlePaths.DiskBase(diskId);
        if (Manifest.Files.Any(f => f.Path == relative))
        {
            return PathOf(relative);
        }

        if (Manifest.ExternalFiles.Any(e => e.BundlePath == relative))
        {
            return FileArgument(relative);
        }

        throw new ReplayBundleException(ReplayBundleError.DamagedFile, Source,
            $"replay bundle '{Source}' is damaged: it has no base image for disk '{diskId}' ({relative}); {BundleManifestJson.Recover}");
    }

    /// <summary>
    /// Where a replay that cannot read a packed disk base (a container's, which sees host paths) finds
    /// <paramref name="file"/>: a packed base restored (<see cref="DiskBaseAsync"/>) and the path its plain copy would
    /// have in the bundle; any other file as it is in the bundle, at its own path.
    /// </summary>
    public async Task<(string Path, string PlainPath)> ReadableAsync(BundleFile file, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        var path = PathOf(file.Path);
        if (file.Role != BundleRoles.DiskBase || !BundlePaths.IsPackedDiskBase(file.Path))
        {
            return (path, path);
        }

        return (await DiskBaseAsync(BundlePaths.DiskIdOfPackedBase(file.Path), cancellationToken: cancellationToken).ConfigureAwait(false),
            PathOf(file.Path[..^BundlePaths.PackSuffix.Length]));
    }

    /// <summary>A pack of this bundle restored into the replay image cache; a damaged pack is a damaged bundle.</summary>
    private async Task<string> UnpackedAsync(string pack, RunDirectory? holdFor, CancellationToken cancellationToken)
    {
        try
        {
            return await ReplayImageCache.UnpackedAsync(pack, holdFor: holdFor, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            throw new ReplayBundleException(ReplayBundleError.DamagedFile, Source, $"replay bundle '{Source}': {e.Message}", e);
        }
    }

    /// <summary>The path of the first file of a role (<see cref="BundleRoles"/>), or null when the bundle has none.</summary>
    public string? PathOfRole(string role) =>
        Manifest.Files.FirstOrDefault(f => f.Role == role) is { } file ? PathOf(file.Path) : null;

    /// <summary>
    /// Where an external file is on this machine: the first of the search directories (each searched by the file's
    /// name; <paramref name="searchDirectories"/>, else those given when opening) and then its original path that holds
    /// a file of the recorded size. Null when none does. The content is checked by <see cref="VerifyAsync"/>.
    /// </summary>
    public string? Resolve(ExternalFile file, IReadOnlyList<string>? searchDirectories = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        return CandidatesFor(file, searchDirectories).FirstOrDefault(c => File.Exists(c) && new FileInfo(c).Length == file.Size);
    }

    /// <summary>Every place <see cref="Resolve"/> looks for an external file, in order.</summary>
    public IReadOnlyList<string> CandidatesFor(ExternalFile file, IReadOnlyList<string>? searchDirectories = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        var name = Path.GetFileName(file.OriginalPath);
        var candidates = new List<string>();
        if (name.Length > 0)
        {
            candidates.AddRange((searchDirectories ?? _searchDirectories).Select(d => Path.Combine(Path.GetFullPath(d), name)));
        }

        candidates.Add(file.OriginalPath);
        return [.. candidates.Distinct(StringComparer.Ordinal)];
    }

    /// <summary>
    /// <see cref="BundleManifest.ReplayArguments"/> with the placeholders filled in: <c>{run}</c> becomes
    /// <paramref name="runDirectory"/>; <c>{bundle}/&lt;path&gt;</c> becomes the file's path in the bundle (checked like
    /// <see cref="PathOf"/>), or, for an external file (<see cref="ExternalFile.BundlePath"/>), where
    /// <see cref="Resolve"/> finds it; a bare <c>{bundle}</c> becomes the bundle directory. Inside an option
    /// (<c>file={bundle}/state.qcow2,if=none</c>) a comma in a substituted path is doubled, as QEMU's option syntax
    /// requires; an argument that starts with a placeholder is a plain path and is left as is.
    /// </summary>
    /// <exception cref="ReplayBundleException">A path is unsafe, or an external file is not on this machine.</exception>
    public IReadOnlyList<string> ExpandReplayArguments(string runDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        return [.. Manifest.ReplayArguments.Select(a => Expand(a, Path.GetFullPath(runDirectory)))];
    }

    private const string BundlePlaceholder = "{bundle}";
    private const string RunPlaceholder = "{run}";

    private string Expand(string argument, string runDirectory)
    {
        var result = new StringBuilder();
        var i = 0;
        while (i < argument.Length)
        {
            string? value = null;
            if (string.CompareOrdinal(argument, i, RunPlaceholder, 0, RunPlaceholder.Length) == 0)
            {
                value = runDirectory;
                i += RunPlaceholder.Length;
            }
            else if (string.CompareOrdinal(argument, i, BundlePlaceholder, 0, BundlePlaceholder.Length) == 0)
            {
                i += BundlePlaceholder.Length;
                if (i < argument.Length && argument[i] == '/')
                {
                    var end = argument.IndexOf(',', i);
                    end = end < 0 ? argument.Length : end;
                    value = FileArgument(argument[(i + 1)..end]);
                    i = end;
                }
                else
                {
                    value = Directory;
                }
            }

            if (value is null)
            {
                result.Append(argument[i]);
                i++;
            }
            else
            {
                result.Append(result.Length == 0 ? value : value.Replace(",", ",,", StringComparison.Ordinal));
            }
        }

        return result.ToString();
    }

    private string FileArgument(string relative)
    {
        if (Manifest.ExternalFiles.FirstOrDefault(e => e.BundlePath == relative) is { } external
            && Manifest.Files.All(f => f.Path != relative))
        {
            return Resolve(external) ?? throw new ReplayBundleException(ReplayBundleError.ExternalMissing, Source, string.Create(CultureInfo.InvariantCulture,
                $"replay bundle '{Source}' needs the external {external.Role} '{external.OriginalPath}' ({external.Size} bytes, sha256 {BundlePaths.Short(external.Sha256)}...), which is not on this machine: copy it there or pass a directory holding it"));
        }

        return PathOf(relative);
    }

    /// <summary>
    /// Checks every file bundle.json lists (size, then sha256, streaming, several files at once), every external
    /// file, and bundle.json's own consistency (the transcript's entry, checkpoint offsets).
    /// </summary>
    public async Task<BundleVerification> VerifyAsync(CancellationToken cancellationToken = default)
    {
        var files = new BundleFileCheck[Manifest.Files.Count];
        var externals = new ExternalFileCheck[Manifest.ExternalFiles.Count];
        var work = Enumerable.Range(0, files.Length).Select(i => (External: false, Index: i))
            .Concat(Enumerable.Range(0, externals.Length).Select(i => (External: true, Index: i)));
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 1, 4), CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(work, parallel, async (item, ct) =>
        {
            if (item.External)
            {
                externals[item.Index] = await CheckExternalAsync(Manifest.ExternalFiles[item.Index], ct).ConfigureAwait(false);
            }
            else
            {
                files[item.Index] = await CheckFileAsync(Manifest.Files[item.Index], ct).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);

        return new BundleVerification(Source, files, externals, ManifestProblems(), UnlistedFiles());
    }

    private async Task<BundleFileCheck> CheckFileAsync(BundleFile file, CancellationToken cancellationToken)
    {
        string path;
        try
        {
            path = PathOf(file.Path);
        }
        catch (ReplayBundleException)
        {
            return new BundleFileCheck(file, BundleFileStatus.Unsafe);
        }

        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return new BundleFileCheck(file, System.IO.Directory.Exists(path) ? BundleFileStatus.Unsafe : BundleFileStatus.Missing);
        }

        if (info.Length != file.Size)
        {
            return new BundleFileCheck(file, BundleFileStatus.SizeMismatch, info.Length);
        }

        var (size, sha256) = await BundleHashing.HashFileAsync(path, cancellationToken).ConfigureAwait(false);
        if (size != file.Size)
        {
            return new BundleFileCheck(file, BundleFileStatus.SizeMismatch, size);
        }

        var ok = string.Equals(sha256, file.Sha256, StringComparison.OrdinalIgnoreCase);
        return new BundleFileCheck(file, ok ? BundleFileStatus.Ok : BundleFileStatus.HashMismatch, size, sha256);
    }

    private async Task<ExternalFileCheck> CheckExternalAsync(ExternalFile file, CancellationToken cancellationToken)
    {
        var candidates = CandidatesFor(file);
        ExternalFileCheck? first = null;
        foreach (var candidate in candidates.Where(File.Exists))
        {
            var length = new FileInfo(candidate).Length;
            ExternalFileCheck check;
            if (length != file.Size)
            {
                check = new ExternalFileCheck(file, ExternalFileStatus.SizeMismatch, candidate, candidates, length);
            }
            else
            {
                var (size, sha256) = await BundleHashing.HashFileAsync(candidate, cancellationToken).ConfigureAwait(false);
                var ok = size == file.Size && string.Equals(sha256, file.Sha256, StringComparison.OrdinalIgnoreCase);
                check = new ExternalFileCheck(file, ok ? ExternalFileStatus.Found : ExternalFileStatus.HashMismatch, candidate, candidates, size, sha256);
            }

            if (check.IsOk)
            {
                return check;
            }

            first ??= check;
        }

        return first ?? new ExternalFileCheck(file, ExternalFileStatus.Missing, null, candidates);
    }

    private List<string> ManifestProblems()
    {
        var problems = new List<string>();
        var transcript = Manifest.Transcript;
        var entry = Manifest.Files.FirstOrDefault(f => f.Path == transcript.File);
        if (entry is null)
        {
            problems.Add($"transcript: bundle.json names the transcript '{transcript.File}' but does not list it among its files");
        }
        else if (entry.Size != transcript.Length || !string.Equals(entry.Sha256, transcript.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"transcript: bundle.json gives the transcript {transcript.Length} bytes, sha256 {BundlePaths.Short(transcript.Sha256)}..., but its files entry {entry.Size} bytes, sha256 {BundlePaths.Short(entry.Sha256)}..."));
        }

        if (transcript.ChunksFile is { } chunks && Manifest.Files.All(f => f.Path != chunks))
        {
            problems.Add($"transcript: bundle.json names the chunks file '{chunks}' but does not list it among its files");
        }

        foreach (var checkpoint in Manifest.Checkpoints.Where(c => c.TranscriptOffset > transcript.Length))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"checkpoint '{checkpoint.Name}': its transcript offset {checkpoint.TranscriptOffset} is beyond the transcript's {transcript.Length} bytes"));
        }

        return problems;
    }

    private List<string> UnlistedFiles()
    {
        var listed = new HashSet<string>(Manifest.Files.Select(f => f.Path), StringComparer.Ordinal) { BundlePaths.ManifestName };
        var enumeration = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
        return [.. System.IO.Directory.EnumerateFiles(Directory, "*", enumeration)
            .Select(f => Path.GetRelativePath(Directory, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(f => !listed.Contains(f))
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// Packs a bundle directory (checked by opening it) into a zip: the listed files and bundle.json under one top-level
    /// <c>&lt;name&gt;.qtkreplay/</c> directory, written to a temporary file renamed at the end. Returns the zip's path
    /// (default: the bundle directory's path plus <c>.zip</c>; for a bundle opened from a zip, that zip).
    /// </summary>
    public static async Task<string> PackZipAsync(string bundle, string? zipPath = null, bool overwrite = false, CancellationToken cancellationToken = default)
    {
        using var opened = await OpenAsync(bundle, cancellationToken).ConfigureAwait(false);
        var target = Path.GetFullPath(zipPath ?? (opened.IsExtracted ? opened.Source : Path.TrimEndingDirectorySeparator(opened.Directory) + ".zip"));
        ReplayBundleWriter.CheckTarget(target, overwrite);
        foreach (var file in opened.Manifest.Files)
        {
            _ = opened.PathOf(file.Path);
        }

        var temp = BundlePaths.TempSibling(target);
        try
        {
            var name = Path.GetFileName(opened.Directory);
            await BundleZip.PackAsync(opened.Directory, [.. opened.Manifest.Files.Select(f => f.Path)], temp, name, cancellationToken).ConfigureAwait(false);
            ReplayBundleWriter.Commit(temp, target, overwrite, directory: false);
            return target;
        }
        catch
        {
            ReplayBundleWriter.TryDelete(temp, directory: false);
            throw;
        }
    }

    private ReplayBundleException Unsafe(string what) =>
        new(ReplayBundleError.UnsafePath, Source, $"replay bundle '{Source}' is unsafe: {what}; the bundle is corrupt or hostile, do not use it");

    public void Dispose()
    {
        if (_extractedRoot is not null)
        {
            ReplayBundleWriter.TryDelete(_extractedRoot, directory: true);
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
