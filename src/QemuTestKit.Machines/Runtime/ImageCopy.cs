using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// Copies a qcow2 image for one run the way <c>cp</c> does: a reflink where the file system has them, else only the
/// image's data extents. A ready state image is about half holes (clusters freed when the boot snapshot was deleted),
/// and .NET's <see cref="File.Copy(string, string)"/> writes those holes out as zeros, so every machine start wrote
/// twice the bytes it needed, which is what parallel runs on one disk pay for.
/// </summary>
internal static class ImageCopy
{
    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int Enxio = 6;
    private const nuint Ficlone = 0x40049409;

    /// <summary>Copies <paramref name="source"/> to a new file <paramref name="destination"/>; on failure no destination is left.</summary>
    public static void Copy(string source, string destination)
    {
        if (!OperatingSystem.IsLinux())
        {
            File.Copy(source, destination);
            return;
        }

        using var input = File.OpenHandle(source, FileMode.Open, FileAccess.Read);
        var length = RandomAccess.GetLength(input);
        var output = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.ReadWrite);
        try
        {
            using (output)
            {
                if (!TryClone(input, output))
                {
                    CopyExtents(input, output, length);
                    RandomAccess.SetLength(output, length);
                }
            }
        }
        catch
        {
            File.Delete(destination);
            throw;
        }
    }

    private static bool TryClone(SafeFileHandle input, SafeFileHandle output)
    {
        try
        {
            return NativeMethods.ioctl(Fd(output), Ficlone, Fd(input)) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    private static void CopyExtents(SafeFileHandle input, SafeFileHandle output, long length)
    {
        var offset = 0L;
        while (offset < length)
        {
            long data;
            long hole;
            try
            {
                data = NativeMethods.lseek(Fd(input), offset, SeekData);
                if (data < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Enxio)
                    {
                        return; // Only a hole is left: SetLength makes it.
                    }

                    // No SEEK_DATA here (an old or network file system): copy the rest as data.
                    CopyRange(input, output, offset, length - offset);
                    return;
                }

                hole = NativeMethods.lseek(Fd(input), data, SeekHole);
                if (hole < 0)
                {
                    hole = length;
                }
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                CopyRange(input, output, offset, length - offset);
                return;
            }

            CopyRange(input, output, data, Math.Min(hole, length) - data);
            offset = hole;
        }
    }

    private static void CopyRange(SafeFileHandle input, SafeFileHandle output, long offset, long count)
    {
        var buffer = new byte[Math.Min(count, 1 << 20)];
        var done = 0L;
        while (done < count)
        {
            var read = RandomAccess.Read(input, buffer.AsSpan(0, (int)Math.Min(buffer.Length, count - done)), offset + done);
            if (read == 0)
            {
                throw new IOException("the image became shorter while it was copied");
            }

            RandomAccess.Write(output, buffer.AsSpan(0, read), offset + done);
            done += read;
        }
    }

    private static int Fd(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern long lseek(int fd, long offset, int whence);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int ioctl(int fd, nuint request, int sourceFd);
    }
}
