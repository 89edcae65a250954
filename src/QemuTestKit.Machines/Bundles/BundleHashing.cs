using System.Buffers;
using System.Security.Cryptography;
using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Machines.Bundles;

/// <summary>Streaming sha256: one pass over each file, in large blocks, never the whole file in memory.</summary>
internal static class BundleHashing
{
    private const int BlockSize = 1 << 20;

    public static string Hex(byte[] hash) => Convert.ToHexString(hash).ToLowerInvariant();

    public static bool IsSha256(string? text) =>
        text is { Length: 64 } && text.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f') or (>= 'A' and <= 'F'));

    /// <summary>Size and sha256 of a file; read only when this version of it has not been hashed before (<see cref="FileHashCache"/>).</summary>
    public static async Task<(long Size, string Sha256)> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        var hash = await FileHashCache.HashAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
        return (hash.Identity.Size, hash.Sha256);
    }

    /// <summary>Copies <paramref name="source"/> to a new file <paramref name="destination"/>, hashing what it copies; flushes it to disk.</summary>
    public static async Task<(long Size, string Sha256)> CopyAndHashAsync(string source, string destination, CancellationToken cancellationToken)
    {
        var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (input.ConfigureAwait(false))
        {
            var output = new FileStream(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1, FileOptions.Asynchronous);
            await using (output.ConfigureAwait(false))
            {
                if (input.CanSeek && input.Length > 0)
                {
                    output.SetLength(input.Length);
                }

                var result = await HashStreamAsync(input, output, cancellationToken).ConfigureAwait(false);
                if (output.Length != result.Size)
                {
                    output.SetLength(result.Size);
                }

                output.Flush(flushToDisk: true);
                return result;
            }
        }
    }

    /// <summary>Hashes what it reads from <paramref name="input"/>, writing it to <paramref name="copyTo"/> when given.</summary>
    public static async Task<(long Size, string Sha256)> HashStreamAsync(Stream input, Stream? copyTo, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            long size = 0;
            int read;
            while ((read = await input.ReadAsync(buffer.AsMemory(0, BlockSize), cancellationToken).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                if (copyTo is not null)
                {
                    await copyTo.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }

                size += read;
            }

            return (size, Hex(hash.GetHashAndReset()));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
