using System.Globalization;

namespace QemuTestKit.Machines.Bundles;

/// <summary>What checking one file of the bundle found.</summary>
public enum BundleFileStatus
{
    Ok,
    Missing,
    SizeMismatch,
    HashMismatch,

    /// <summary>The file is a symbolic link or otherwise not a plain file inside the bundle.</summary>
    Unsafe,
}

/// <summary>What checking one external file found.</summary>
public enum ExternalFileStatus
{
    Found,
    Missing,
    SizeMismatch,
    HashMismatch,
}

/// <param name="File">The file as bundle.json lists it.</param>
/// <param name="ActualSize">Its size on disk, when it exists.</param>
/// <param name="ActualSha256">Its sha256, when it was hashed (only when the size matched).</param>
public sealed record BundleFileCheck(BundleFile File, BundleFileStatus Status, long? ActualSize = null, string? ActualSha256 = null)
{
    public bool IsOk => Status == BundleFileStatus.Ok;

    /// <summary>One line for a problem (null when the file is fine).</summary>
    public string? Problem => Status switch
    {
        BundleFileStatus.Ok => null,
        BundleFileStatus.Missing => $"missing: {File.Path} ({File.Role})",
        BundleFileStatus.SizeMismatch => string.Create(CultureInfo.InvariantCulture,
            $"size mismatch: {File.Path} ({File.Role}): {ActualSize} bytes, expected {File.Size}"),
        BundleFileStatus.HashMismatch =>
            $"hash mismatch: {File.Path} ({File.Role}): sha256 {BundlePaths.Short(ActualSha256)}..., expected {BundlePaths.Short(File.Sha256)}...",
        _ => $"unsafe: {File.Path} ({File.Role}): a symbolic link or a path leading outside the bundle",
    };
}

/// <param name="File">The external file as bundle.json lists it.</param>
/// <param name="FoundAt">Where a file matching it was found (Found), or the first candidate that exists (mismatches).</param>
/// <param name="Candidates">Every place that was looked at, in order.</param>
public sealed record ExternalFileCheck(
    ExternalFile File, ExternalFileStatus Status, string? FoundAt, IReadOnlyList<string> Candidates, long? ActualSize = null, string? ActualSha256 = null)
{
    public bool IsOk => Status == ExternalFileStatus.Found;

    /// <summary>One line for a problem (null when the file was found).</summary>
    public string? Problem => Status switch
    {
        ExternalFileStatus.Found => null,
        ExternalFileStatus.Missing =>
            $"external missing: {File.OriginalPath} ({File.Role}): not found (looked at {string.Join(", ", Candidates)}); copy it there or pass a directory holding it",
        ExternalFileStatus.SizeMismatch => string.Create(CultureInfo.InvariantCulture,
            $"external mismatch: {File.OriginalPath} ({File.Role}) at {FoundAt}: {ActualSize} bytes, expected {File.Size}"),
        _ => $"external mismatch: {File.OriginalPath} ({File.Role}) at {FoundAt}: sha256 {BundlePaths.Short(ActualSha256)}..., expected {BundlePaths.Short(File.Sha256)}...",
    };
}

/// <summary>The result of <see cref="ReplayBundle.VerifyAsync"/>: every file of the bundle and every external file, checked.</summary>
/// <param name="Bundle">The bundle as it was opened.</param>
/// <param name="Files">One result per file bundle.json lists, in its order.</param>
/// <param name="ExternalFiles">One result per external file, in bundle.json's order.</param>
/// <param name="ManifestProblems">Inconsistencies inside bundle.json itself (for example a transcript sha256 that differs from its files entry).</param>
/// <param name="UnlistedFiles">Files in the bundle directory that bundle.json does not list. Not part of the bundle, so not a problem.</param>
public sealed record BundleVerification(
    string Bundle,
    IReadOnlyList<BundleFileCheck> Files,
    IReadOnlyList<ExternalFileCheck> ExternalFiles,
    IReadOnlyList<string> ManifestProblems,
    IReadOnlyList<string> UnlistedFiles)
{
    /// <summary>Every listed file is there unchanged, every external file was found unchanged, and bundle.json is consistent.</summary>
    public bool IsIntact => Files.All(f => f.IsOk) && ExternalFiles.All(f => f.IsOk) && ManifestProblems.Count == 0;

    /// <summary>One line per problem: bundle files first, then external files, then bundle.json's own inconsistencies.</summary>
    public IReadOnlyList<string> Problems =>
    [
        .. Files.Select(f => f.Problem).OfType<string>(),
        .. ExternalFiles.Select(f => f.Problem).OfType<string>(),
        .. ManifestProblems,
    ];

    /// <summary>The total size of the bundle's files as listed.</summary>
    public long BundleBytes => Files.Sum(f => f.File.Size);
}
